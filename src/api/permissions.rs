//! Mattermost's built-in roles with their default permission sets (server/public/model/role.go,
//! `MakeDefaultRoles`), and the permission checks every endpoint makes through them: a user holds
//! the permissions of their system roles (the session's), of their roles in a team (team member
//! roles) and of their roles in a channel (channel member roles), as in Mattermost's
//! `SessionHasPermissionTo{,Team,Channel}`.

use super::{AppState, Auth};
use crate::error::{ApiResult, AppError};
use crate::store::Channel;

/// One built-in role.
pub struct BuiltInRole {
    pub name: &'static str,
    pub display_name: &'static str,
    pub description: &'static str,
    /// Part of a permission scheme (a member's `scheme_*` flags carry it), not an explicit role.
    pub scheme_managed: bool,
    pub permissions: &'static [&'static str],
}

/// Every permission id Mattermost knows (model/permission.go): a system admin holds them all.
pub const ALL_PERMISSIONS: &[&str] = &[
    "add_bookmark_private_channel",
    "add_bookmark_public_channel",
    "add_ldap_private_cert",
    "add_ldap_public_cert",
    "add_reaction",
    "add_saml_idp_cert",
    "add_saml_private_cert",
    "add_saml_public_cert",
    "add_user_to_team",
    "admin_wiki",
    "assign_bot",
    "assign_system_admin_role",
    "bypass_incoming_webhook_channel_lock",
    "comment_page",
    "convert_private_channel_to_public",
    "convert_public_channel_to_private",
    "create_bot",
    "create_custom_group",
    "create_direct_channel",
    "create_elasticsearch_post_aggregation_job",
    "create_elasticsearch_post_indexing_job",
    "create_emojis",
    "create_group_channel",
    "create_ldap_sync_job",
    "create_page",
    "create_post",
    "create_post_ephemeral",
    "create_post_public",
    "create_private_channel",
    "create_public_channel",
    "create_team",
    "create_user_access_token",
    "create_wiki",
    "delete_bookmark_private_channel",
    "delete_bookmark_public_channel",
    "delete_custom_group",
    "delete_emojis",
    "delete_others_emojis",
    "delete_others_posts",
    "delete_own_page",
    "delete_page",
    "delete_post",
    "delete_private_channel",
    "delete_public_channel",
    "delete_wiki",
    "demote_to_guest",
    "download_compliance_export_result",
    "edit_bookmark_private_channel",
    "edit_bookmark_public_channel",
    "edit_brand",
    "edit_custom_group",
    "edit_file_attachment",
    "edit_other_users",
    "edit_others_posts",
    "edit_own_page",
    "edit_page",
    "edit_post",
    "get_public_link",
    "get_saml_cert_status",
    "get_saml_metadata_from_idp",
    "import_team",
    "invalidate_caches",
    "invalidate_email_invite",
    "invite_guest",
    "invite_user",
    "join_private_teams",
    "join_public_channels",
    "join_public_teams",
    "list_private_teams",
    "list_public_teams",
    "list_team_channels",
    "list_users_without_team",
    "manage_bots",
    "manage_channel_access_rules",
    "manage_channel_roles",
    "manage_custom_group_members",
    "manage_emojis",
    "manage_incoming_webhooks",
    "manage_jobs",
    "manage_oauth",
    "manage_others_agent",
    "manage_others_bots",
    "manage_others_emojis",
    "manage_others_incoming_webhooks",
    "manage_others_outgoing_webhooks",
    "manage_others_slash_commands",
    "manage_others_webhooks",
    "manage_outgoing_oauth_connections",
    "manage_outgoing_webhooks",
    "manage_own_agent",
    "manage_own_incoming_webhooks",
    "manage_own_outgoing_webhooks",
    "manage_own_slash_commands",
    "manage_private_channel_auto_translation",
    "manage_private_channel_banner",
    "manage_private_channel_members",
    "manage_private_channel_properties",
    "manage_public_channel_auto_translation",
    "manage_public_channel_banner",
    "manage_public_channel_members",
    "manage_public_channel_properties",
    "manage_roles",
    "manage_secure_connections",
    "manage_shared_channels",
    "manage_slash_commands",
    "manage_system",
    "manage_system_wide_oauth",
    "manage_team",
    "manage_team_access_rules",
    "manage_team_roles",
    "manage_webhooks",
    "manage_wiki",
    "order_bookmark_private_channel",
    "order_bookmark_public_channel",
    "permanent_delete_user",
    "playbook_private_create",
    "playbook_private_make_public",
    "playbook_private_manage_members",
    "playbook_private_manage_properties",
    "playbook_private_view",
    "playbook_public_create",
    "playbook_public_make_private",
    "playbook_public_manage_members",
    "playbook_public_manage_properties",
    "playbook_public_view",
    "promote_guest",
    "purge_elasticsearch_indexes",
    "read_bots",
    "read_channel",
    "read_channel_content",
    "read_deleted_posts",
    "read_elasticsearch_post_aggregation_job",
    "read_elasticsearch_post_indexing_job",
    "read_jobs",
    "read_ldap_sync_job",
    "read_other_users_teams",
    "read_others_bots",
    "read_page",
    "read_private_channel_groups",
    "read_public_channel",
    "read_public_channel_groups",
    "read_user_access_token",
    "read_wiki",
    "recycle_database_connections",
    "reload_config",
    "remove_ldap_private_cert",
    "remove_ldap_public_cert",
    "remove_others_reactions",
    "remove_reaction",
    "remove_saml_idp_cert",
    "remove_saml_private_cert",
    "remove_saml_public_cert",
    "remove_user_from_team",
    "restore_custom_group",
    "revoke_user_access_token",
    "run_create",
    "run_manage_members",
    "run_manage_properties",
    "run_view",
    "sysconsole_read_about_edition_and_license",
    "sysconsole_read_authentication_email",
    "sysconsole_read_authentication_guest_access",
    "sysconsole_read_authentication_ldap",
    "sysconsole_read_authentication_mfa",
    "sysconsole_read_authentication_openid",
    "sysconsole_read_authentication_password",
    "sysconsole_read_authentication_saml",
    "sysconsole_read_authentication_signup",
    "sysconsole_read_billing",
    "sysconsole_read_compliance_compliance_export",
    "sysconsole_read_compliance_compliance_monitoring",
    "sysconsole_read_compliance_custom_terms_of_service",
    "sysconsole_read_compliance_data_retention_policy",
    "sysconsole_read_environment_database",
    "sysconsole_read_environment_developer",
    "sysconsole_read_environment_elasticsearch",
    "sysconsole_read_environment_file_storage",
    "sysconsole_read_environment_high_availability",
    "sysconsole_read_environment_image_proxy",
    "sysconsole_read_environment_logging",
    "sysconsole_read_environment_mobile_security",
    "sysconsole_read_environment_performance_monitoring",
    "sysconsole_read_environment_push_notification_server",
    "sysconsole_read_environment_rate_limiting",
    "sysconsole_read_environment_session_lengths",
    "sysconsole_read_environment_smtp",
    "sysconsole_read_environment_web_server",
    "sysconsole_read_experimental_bleve",
    "sysconsole_read_experimental_feature_flags",
    "sysconsole_read_experimental_features",
    "sysconsole_read_integrations_bot_accounts",
    "sysconsole_read_integrations_cors",
    "sysconsole_read_integrations_gif",
    "sysconsole_read_integrations_integration_management",
    "sysconsole_read_plugins",
    "sysconsole_read_products_boards",
    "sysconsole_read_reporting_server_logs",
    "sysconsole_read_reporting_site_statistics",
    "sysconsole_read_reporting_team_statistics",
    "sysconsole_read_site_announcement_banner",
    "sysconsole_read_site_customization",
    "sysconsole_read_site_emoji",
    "sysconsole_read_site_file_sharing_and_downloads",
    "sysconsole_read_site_ip_filters",
    "sysconsole_read_site_localization",
    "sysconsole_read_site_notices",
    "sysconsole_read_site_notifications",
    "sysconsole_read_site_posts",
    "sysconsole_read_site_public_links",
    "sysconsole_read_site_users_and_teams",
    "sysconsole_read_user_management_channels",
    "sysconsole_read_user_management_groups",
    "sysconsole_read_user_management_permissions",
    "sysconsole_read_user_management_system_roles",
    "sysconsole_read_user_management_teams",
    "sysconsole_read_user_management_users",
    "sysconsole_write_about_edition_and_license",
    "sysconsole_write_authentication_email",
    "sysconsole_write_authentication_guest_access",
    "sysconsole_write_authentication_ldap",
    "sysconsole_write_authentication_mfa",
    "sysconsole_write_authentication_openid",
    "sysconsole_write_authentication_password",
    "sysconsole_write_authentication_saml",
    "sysconsole_write_authentication_signup",
    "sysconsole_write_billing",
    "sysconsole_write_compliance_compliance_export",
    "sysconsole_write_compliance_compliance_monitoring",
    "sysconsole_write_compliance_custom_terms_of_service",
    "sysconsole_write_compliance_data_retention_policy",
    "sysconsole_write_environment_database",
    "sysconsole_write_environment_developer",
    "sysconsole_write_environment_elasticsearch",
    "sysconsole_write_environment_file_storage",
    "sysconsole_write_environment_high_availability",
    "sysconsole_write_environment_image_proxy",
    "sysconsole_write_environment_logging",
    "sysconsole_write_environment_mobile_security",
    "sysconsole_write_environment_performance_monitoring",
    "sysconsole_write_environment_push_notification_server",
    "sysconsole_write_environment_rate_limiting",
    "sysconsole_write_environment_session_lengths",
    "sysconsole_write_environment_smtp",
    "sysconsole_write_environment_web_server",
    "sysconsole_write_experimental_bleve",
    "sysconsole_write_experimental_feature_flags",
    "sysconsole_write_experimental_features",
    "sysconsole_write_integrations_bot_accounts",
    "sysconsole_write_integrations_cors",
    "sysconsole_write_integrations_gif",
    "sysconsole_write_integrations_integration_management",
    "sysconsole_write_plugins",
    "sysconsole_write_products_boards",
    "sysconsole_write_reporting_server_logs",
    "sysconsole_write_reporting_site_statistics",
    "sysconsole_write_reporting_statistics",
    "sysconsole_write_site_announcement_banner",
    "sysconsole_write_site_customization",
    "sysconsole_write_site_emoji",
    "sysconsole_write_site_file_sharing_and_downloads",
    "sysconsole_write_site_ip_filters",
    "sysconsole_write_site_localization",
    "sysconsole_write_site_notices",
    "sysconsole_write_site_notifications",
    "sysconsole_write_site_posts",
    "sysconsole_write_site_public_links",
    "sysconsole_write_site_users_and_teams",
    "sysconsole_write_user_management_channels",
    "sysconsole_write_user_management_groups",
    "sysconsole_write_user_management_permissions",
    "sysconsole_write_user_management_system_roles",
    "sysconsole_write_user_management_teams",
    "sysconsole_write_user_management_users",
    "test_elasticsearch",
    "test_email",
    "test_ldap",
    "test_s3",
    "test_site_url",
    "upload_file",
    "use_channel_mentions",
    "use_group_mentions",
    "use_slash_commands",
    "view_members",
    "view_team",
];

const BOOKMARKS: [&str; 8] = [
    "add_bookmark_public_channel",
    "edit_bookmark_public_channel",
    "delete_bookmark_public_channel",
    "order_bookmark_public_channel",
    "add_bookmark_private_channel",
    "edit_bookmark_private_channel",
    "delete_bookmark_private_channel",
    "order_bookmark_private_channel",
];

macro_rules! perms {
    ($($p:expr),* $(,)?) => { &[$($p),*] };
}

const CHANNEL_GUEST: &[&str] = perms![
    "read_channel",
    "read_channel_content",
    "add_reaction",
    "remove_reaction",
    "upload_file",
    "edit_post",
    "create_post",
    "use_channel_mentions",
    "read_page",
    "edit_file_attachment",
];

const CHANNEL_USER: &[&str] = perms![
    "read_channel",
    "read_channel_content",
    "add_reaction",
    "remove_reaction",
    "manage_public_channel_members",
    "upload_file",
    "get_public_link",
    "create_post",
    "use_channel_mentions",
    "manage_public_channel_properties",
    "delete_public_channel",
    "manage_private_channel_properties",
    "delete_private_channel",
    "manage_private_channel_members",
    "delete_post",
    "edit_post",
    "edit_file_attachment",
    BOOKMARKS[0],
    BOOKMARKS[1],
    BOOKMARKS[2],
    BOOKMARKS[3],
    BOOKMARKS[4],
    BOOKMARKS[5],
    BOOKMARKS[6],
    BOOKMARKS[7],
    "read_page",
    "create_page",
    "edit_page",
    "delete_own_page",
];

const CHANNEL_ADMIN: &[&str] = perms![
    "manage_channel_roles",
    "use_group_mentions",
    BOOKMARKS[0],
    BOOKMARKS[1],
    BOOKMARKS[2],
    BOOKMARKS[3],
    BOOKMARKS[4],
    BOOKMARKS[5],
    BOOKMARKS[6],
    BOOKMARKS[7],
    "read_page",
    "create_page",
    "edit_page",
    "delete_own_page",
    "delete_page",
    "manage_public_channel_banner",
    "manage_private_channel_banner",
    "manage_channel_access_rules",
    "manage_public_channel_auto_translation",
    "manage_private_channel_auto_translation",
];

const TEAM_USER: &[&str] = perms![
    "list_team_channels",
    "join_public_channels",
    "read_public_channel",
    "view_team",
    "create_public_channel",
    "create_private_channel",
    "invite_user",
    "add_user_to_team",
    "create_wiki",
    "read_page",
    "create_page",
    "edit_page",
    "delete_own_page",
];

const TEAM_ADMIN: &[&str] = perms![
    "remove_user_from_team",
    "manage_team",
    "import_team",
    "manage_team_roles",
    "manage_team_access_rules",
    "manage_channel_roles",
    "manage_own_incoming_webhooks",
    "manage_others_incoming_webhooks",
    "manage_own_outgoing_webhooks",
    "manage_others_outgoing_webhooks",
    "manage_own_slash_commands",
    "manage_others_slash_commands",
    "bypass_incoming_webhook_channel_lock",
    "convert_public_channel_to_private",
    "convert_private_channel_to_public",
    "delete_post",
    "delete_others_posts",
    BOOKMARKS[0],
    BOOKMARKS[1],
    BOOKMARKS[2],
    BOOKMARKS[3],
    BOOKMARKS[4],
    BOOKMARKS[5],
    BOOKMARKS[6],
    BOOKMARKS[7],
    "read_page",
    "create_page",
    "edit_page",
    "delete_own_page",
    "delete_page",
    "manage_public_channel_banner",
    "manage_private_channel_banner",
    "manage_channel_access_rules",
    "create_wiki",
    "manage_wiki",
];

const SYSTEM_USER: &[&str] = perms![
    "list_public_teams",
    "join_public_teams",
    "create_direct_channel",
    "create_group_channel",
    "view_members",
    "create_team",
    "create_custom_group",
    "edit_custom_group",
    "delete_custom_group",
    "restore_custom_group",
    "manage_custom_group_members",
    "manage_own_agent",
    // What a new Mattermost install's permission migrations give every user (custom emoji for all).
    "create_emojis",
    "delete_emojis",
];

macro_rules! role {
    ($name:literal, $key:literal, $managed:expr, $perms:expr) => {
        BuiltInRole {
            name: $name,
            display_name: concat!("authentication.roles.", $key, ".name"),
            description: concat!("authentication.roles.", $key, ".description"),
            scheme_managed: $managed,
            permissions: $perms,
        }
    };
}

/// The built-in roles, by scope: system, team, channel.
pub const BUILT_IN_ROLES: &[BuiltInRole] = &[
    role!("system_guest", "global_guest", true, &["create_direct_channel", "create_group_channel"]),
    role!("system_user", "global_user", true, SYSTEM_USER),
    role!("system_admin", "global_admin", true, ALL_PERMISSIONS),
    role!("system_post_all", "system_post_all", false, &["create_post", "use_channel_mentions"]),
    role!("system_post_all_public", "system_post_all_public", false, &["create_post_public", "use_channel_mentions"]),
    role!(
        "system_user_access_token",
        "system_user_access_token",
        false,
        &["create_user_access_token", "read_user_access_token", "revoke_user_access_token"]
    ),
    role!("team_guest", "team_guest", true, &["view_team"]),
    role!("team_user", "team_user", true, TEAM_USER),
    role!("team_admin", "team_admin", true, TEAM_ADMIN),
    role!("team_post_all", "team_post_all", false, &["create_post", "use_channel_mentions"]),
    role!("team_post_all_public", "team_post_all_public", false, &["create_post_public", "use_channel_mentions"]),
    role!("channel_guest", "channel_guest", true, CHANNEL_GUEST),
    role!("channel_user", "channel_user", true, CHANNEL_USER),
    role!("channel_admin", "channel_admin", true, CHANNEL_ADMIN),
    role!("custom_group_user", "custom_group_user", false, &[]),
];

/// A built-in role by name.
pub fn built_in(name: &str) -> Option<&'static BuiltInRole> {
    BUILT_IN_ROLES.iter().find(|r| r.name == name)
}

/// Whether any of `roles` (space-separated names) grants `permission`.
pub fn roles_grant(roles: &str, permission: &str) -> bool {
    roles.split_whitespace().filter_map(built_in).any(|r| r.permissions.contains(&permission))
}

/// The answer to a request that lacks a permission.
pub fn forbidden() -> AppError {
    AppError::forbidden("You do not have the appropriate permissions.")
}

/// `Ok` when `granted`, else 403.
pub fn require(granted: bool) -> ApiResult<()> {
    if granted {
        Ok(())
    } else {
        Err(forbidden())
    }
}

impl Auth {
    /// Whether the caller's system roles grant `permission`.
    pub fn has_permission(&self, permission: &str) -> bool {
        roles_grant(&self.session.roles, permission)
    }
}

/// Whether the caller holds `permission` in a team: by their system roles, or by their roles as a
/// current member of the team.
pub async fn has_team_permission(state: &AppState, auth: &Auth, team_id: &str, permission: &str) -> ApiResult<bool> {
    if auth.has_permission(permission) {
        return Ok(true);
    }
    if team_id.is_empty() {
        return Ok(false);
    }
    let member = state.store.active_team_member(team_id, auth.user_id()).await?;
    Ok(member.is_some_and(|m| roles_grant(&m.roles, permission)))
}

/// Whether the caller holds `permission` in a channel: by their system roles, their roles as a
/// member of the channel, or their roles in the channel's team.
pub async fn has_channel_permission(
    state: &AppState,
    auth: &Auth,
    channel: &Channel,
    permission: &str,
) -> ApiResult<bool> {
    if auth.has_permission(permission) {
        return Ok(true);
    }
    if let Some(m) = state.store.channel_member(&channel.id, auth.user_id()).await? {
        if roles_grant(&m.roles, permission) {
            return Ok(true);
        }
    }
    has_team_permission(state, auth, &channel.team_id, permission).await
}

/// The permission that manages a channel's members, by the channel's type.
pub fn manage_members_permission(channel: &Channel) -> &'static str {
    if channel.is_open() {
        "manage_public_channel_members"
    } else {
        "manage_private_channel_members"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_permission_is_a_known_permission() {
        for role in BUILT_IN_ROLES {
            for p in role.permissions {
                assert!(ALL_PERMISSIONS.contains(p), "{}: {p}", role.name);
            }
        }
        let mut sorted = ALL_PERMISSIONS.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), ALL_PERMISSIONS.len(), "no permission twice");
    }

    #[test]
    fn roles_grant_what_mattermost_grants() {
        assert!(roles_grant("channel_user", "create_post"));
        assert!(roles_grant("channel_guest", "create_post"));
        assert!(!roles_grant("team_user", "create_post"), "posting is a channel permission");
        assert!(roles_grant("team_user team_admin", "manage_team"));
        assert!(!roles_grant("team_user", "manage_team"));
        assert!(roles_grant("system_user", "create_direct_channel"));
        assert!(!roles_grant("system_user", "manage_system"));
        assert!(roles_grant("system_user system_admin", "manage_system"));
        assert!(!roles_grant("no_such_role", "create_post"));
        assert!(!roles_grant("", "create_post"));
    }
}
