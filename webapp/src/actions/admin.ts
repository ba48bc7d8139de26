// The system console's data: cluster status, users, and the config (system admins only).
import type { UserProfile } from '@mattermost/types/users';
import { client } from '../client';

export interface NodeRow {
  id: string;
  version: string;
  schema_version: string;
  config_hash: string;
  ipaddress: string;
  hostname: string;
  status: string;
  reason: string;
  last_ping_at: number;
  is_leader: boolean;
}

export async function clusterStatus(): Promise<NodeRow[]> {
  return (await client.getClusterStatus()) as unknown as NodeRow[];
}

export async function listUsers(page: number, perPage: number): Promise<UserProfile[]> {
  return client.getProfiles(page, perPage, { active: undefined } as never);
}

export async function setUserActive(userId: string, active: boolean): Promise<void> {
  await client.updateUserActive(userId, active);
}

/** Make a user a system admin or take it back (their other roles are kept). */
export async function setSystemAdmin(user: UserProfile, admin: boolean): Promise<void> {
  const roles = new Set(user.roles.split(' ').filter(Boolean));
  roles.add('system_user');
  if (admin) roles.add('system_admin');
  else roles.delete('system_admin');
  await client.updateUserRoles(user.id, [...roles].join(' '));
}

export type Config = Record<string, Record<string, unknown>>;

export async function getConfig(): Promise<Config> {
  return (await client.getConfig()) as unknown as Config;
}

export async function patchConfig(patch: Config): Promise<Config> {
  return (await client.patchConfig(patch as never)) as unknown as Config;
}

/** Saving is refused while the cluster keeps its config read-only (as in Mattermost). */
export function isReadOnly(config: Config | null): boolean {
  const c = config?.ClusterSettings;
  return !!c && c.Enable === true && c.ReadOnlyConfig !== false;
}

/** The config sections Starling implements, in the order the console shows them. */
export const CONFIG_SECTIONS: { key: string; title: string }[] = [
  { key: 'ServiceSettings', title: 'Web Server' },
  { key: 'TeamSettings', title: 'Users and Teams' },
  { key: 'SqlSettings', title: 'Database' },
  { key: 'FileSettings', title: 'File Storage' },
  { key: 'PasswordSettings', title: 'Password' },
  { key: 'ClusterSettings', title: 'High Availability settings' },
  { key: 'LogSettings', title: 'Logging' },
  { key: 'MetricsSettings', title: 'Performance Monitoring' },
  { key: 'JobSettings', title: 'Jobs' },
  { key: 'DataRetentionSettings', title: 'Data Retention' },
];
