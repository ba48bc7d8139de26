// A full REST flow against a running Starling, driven by the official Mattermost
// JS client (Client4 from @mattermost/client). Run with `node --test` and
// STARLING_URL=http://127.0.0.1:<port>, against a server whose database is empty:
// the first user created here must become system admin.
//
// The steps run in order and share state: a step whose requests fail leaves out
// what later steps need, and those are skipped; read the first failure first.
// A failure shows the last HTTP exchanges (request, status, body).

import assert from 'node:assert/strict';
import {randomBytes} from 'node:crypto';
import {describe, it} from 'node:test';

import mm from '@mattermost/client';

const {Client4} = mm;

const URL = (process.env.STARLING_URL || '').replace(/\/+$/, '');
const STEP = {timeout: 30_000}; // every step is bounded
const PASSWORD = `Starling-${randomBytes(8).toString('hex')}`;
const ID_RE = /^[a-z0-9]{26}$/;
const ERROR_KEYS = ['id', 'message', 'detailed_error', 'request_id', 'status_code'];

// Every fetch (Client4's and ours) is recorded, so that a failing step can show
// the last requests with their status and body.
const recent = [];
const realFetch = globalThis.fetch;
const clip = (text) => (text.length > 600 ? `${text.slice(0, 600)}...` : text);
globalThis.fetch = async (url, options = {}) => {
    const method = (options.method || 'GET').toUpperCase();
    const sent = typeof options.body === 'string' ? clip(options.body) : (options.body ? '<form data>' : '');
    const res = await realFetch(url, options);
    const ctype = res.headers.get('content-type') || '';
    let body = `<${res.headers.get('content-length') || '?'} bytes>`;
    if ((/json|text/).test(ctype)) {
        body = clip(await res.clone().text());
    }
    recent.push(`${method} ${url}\n    request: ${sent}\n    -> ${res.status} [${ctype}] ${body}`);
    if (recent.length > 6) {
        recent.shift();
    }
    return res;
};

// step(name, needs, fn): one step of the flow. It is skipped when an earlier step
// did not produce what it needs (keys of the shared state), and a failure shows
// the last HTTP exchanges.
function step(name, needs, fn) {
    it(name, STEP, async (t) => {
        const missing = needs.filter((key) => s[key] === undefined);
        if (missing.length) {
            t.skip(`needs ${missing.join(', ')} from an earlier step that failed`);
            return;
        }
        recent.length = 0;
        try {
            await fn();
        } catch (err) {
            err.message += `\nlast HTTP exchanges (oldest first):\n${recent.join('\n')}`;
            throw err;
        }
    });
}

const s = {}; // the state the flow builds, step by step

const unique = (prefix) => `${prefix}${randomBytes(5).toString('hex')}`;
const rolesOf = (obj) => new Set(obj.roles.split(/\s+/).filter(Boolean));

function newClient(token) {
    const client = new Client4();
    client.setUrl(URL);
    if (token) {
        client.setToken(token);
    }
    return client;
}

async function loginAs(username) {
    const client = newClient();
    const me = await client.login(username, PASSWORD);
    return {client, me};
}

function assertRecent(ms, what) {
    assert.equal(typeof ms, 'number', `${what} is not a number`);
    assert.ok(Math.abs(ms - Date.now()) < 10 * 60 * 1000, `${what}=${ms} is not a recent time in ms`);
}

function assertNewestFirst(list) {
    for (const id of list.order) {
        assert.ok(list.posts[id], `post ${id} is in order but not in posts`);
    }
    const stamps = list.order.map((id) => list.posts[id].create_at);
    const sorted = [...stamps].sort((a, b) => b - a);
    assert.deepEqual(stamps, sorted, 'order is not newest first');
}

// Client4 turns every non-2xx answer into a ClientError whose status_code is the
// one in the JSON error body.
async function rejectsWith(promise, status) {
    await assert.rejects(promise, (err) => {
        assert.equal(err.status_code, status, `expected ${status}, got ${err.status_code}: ${err.message}`);
        assert.ok(err.server_error_id, 'error body without id');
        return true;
    });
}

describe('Client4 REST flow', {skip: URL ? false : 'STARLING_URL is not set'}, () => {
    step('pings', [], async () => {
        const res = await newClient().ping(true);
        // Client4 parses JSON only when Content-Type is exactly application/json
        assert.equal(typeof res, 'object', `ping answered ${typeof res}: ${res}`);
        assert.equal(res.status, 'OK');
        assert.equal(res.database_status, 'OK');
        assert.equal(res.filestore_status, 'OK');
    });

    step('makes the first user system admin', [], async () => {
        const name = unique('admin');
        const user = await newClient().createUser({username: name, email: `${name}@example.com`, password: PASSWORD});
        const {client, me} = await loginAs(name);
        s.admin = {client, user};
        assert.match(user.id, ID_RE);
        assert.equal(user.username, name);
        assert.ok(rolesOf(user).has('system_admin'), `first user roles: ${user.roles}`);
        assert.ok(!user.password, 'the create-user response exposed the password');
        assert.equal(me.id, user.id);
        assert.ok(client.getToken(), 'login answered without a Token header');
    });

    step('creates plain users and logs them in', ['admin'], async () => {
        const users = {};
        for (const who of ['alice', 'bob', 'carol']) {
            const name = unique(who);
            // eslint-disable-next-line no-await-in-loop
            const user = await s.admin.client.createUser({username: name, email: `${name}@example.com`, password: PASSWORD});
            // eslint-disable-next-line no-await-in-loop
            const {client, me} = await loginAs(name);
            users[who] = {client, user, me, name};
        }
        s.users = users;
        for (const [who, {client, user, me, name}] of Object.entries(users)) {
            assert.match(user.id, ID_RE);
            assert.equal(user.username, name);
            assert.equal(user.email, `${name}@example.com`);
            assert.deepEqual(rolesOf(user), new Set(['system_user']));
            assert.equal(user.delete_at, 0);
            assertRecent(user.create_at, `${who}.create_at`);
            assert.ok(!user.password);
            assert.equal(me.id, user.id);
            assert.ok(client.getToken(), 'login answered without a Token header');
            // eslint-disable-next-line no-await-in-loop
            const again = await client.getMe(); // Client4 sends "Authorization: BEARER <token>"
            assert.equal(again.id, user.id);
        }
        const tokens = new Set(Object.values(users).map((u) => u.client.getToken()));
        assert.equal(tokens.size, 3, 'each login must get its own token');
    });

    step('rejects a wrong password and a missing token with 401', ['users'], async () => {
        await rejectsWith(newClient().login(s.users.alice.name, 'not-the-password'), 401);
        await rejectsWith(newClient().getMe(), 401);
    });

    step('creates a team and adds members', ['users'], async () => {
        const {alice, bob, carol} = s.users;
        const name = unique('team-');
        const team = await alice.client.createTeam({name, display_name: `Team ${name}`, type: 'O'});
        const members = [];
        for (const who of [bob, carol]) {
            // eslint-disable-next-line no-await-in-loop
            members.push([who, await alice.client.addToTeam(team.id, who.user.id)]);
        }
        s.team = team;
        assert.match(team.id, ID_RE);
        assert.equal(team.name, name);
        assert.equal(team.display_name, `Team ${name}`);
        assert.equal(team.type, 'O');
        assert.equal(team.delete_at, 0);
        for (const [who, member] of members) {
            assert.equal(member.team_id, team.id);
            assert.equal(member.user_id, who.user.id);
            assert.ok(rolesOf(member).has('team_user'), `team member roles: ${member.roles}`);
            assert.equal(member.delete_at, 0);
            assert.equal(member.scheme_user, true);
            assert.equal(member.scheme_admin, false);
        }
    });

    step('creates a public and a private channel and adds members', ['users', 'team'], async () => {
        const {alice, bob, carol} = s.users;
        const channels = {};
        const names = {};
        for (const [kind, type] of [['open', 'O'], ['private', 'P']]) {
            names[kind] = unique(`${kind}-`);
            // eslint-disable-next-line no-await-in-loop
            channels[kind] = await alice.client.createChannel({
                team_id: s.team.id, name: names[kind], display_name: `${kind} ${names[kind]}`, type,
            });
        }
        const members = [];
        for (const [kind, who] of [['open', bob], ['open', carol], ['private', bob]]) {
            // eslint-disable-next-line no-await-in-loop
            members.push([kind, who, await alice.client.addToChannel(who.user.id, channels[kind].id)]);
        }
        s.channels = channels;
        for (const [kind, type] of [['open', 'O'], ['private', 'P']]) {
            const channel = channels[kind];
            assert.match(channel.id, ID_RE);
            assert.equal(channel.team_id, s.team.id);
            assert.equal(channel.name, names[kind]);
            assert.equal(channel.display_name, `${kind} ${names[kind]}`);
            assert.equal(channel.type, type);
            assert.equal(channel.creator_id, alice.user.id);
        }
        for (const [kind, who, member] of members) {
            assert.equal(member.channel_id, channels[kind].id);
            assert.equal(member.user_id, who.user.id);
            assert.ok(rolesOf(member).has('channel_user'), `channel member roles: ${member.roles}`);
            for (const key of ['last_viewed_at', 'msg_count', 'mention_count']) {
                assert.equal(typeof member[key], 'number', `${key}: ${member[key]}`);
            }
            assert.equal(typeof member.notify_props, 'object');
        }
    });

    step('creates a post and a reply', ['users', 'channels'], async () => {
        const {alice, bob} = s.users;
        const channelId = s.channels.open.id;
        const root = await alice.client.createPost({channel_id: channelId, message: 'hello from Client4'});
        const reply = await bob.client.createPost({channel_id: channelId, message: 'a reply', root_id: root.id});
        s.root = root;
        s.reply = reply;
        assert.match(root.id, ID_RE);
        assert.equal(root.channel_id, channelId);
        assert.equal(root.user_id, alice.user.id);
        assert.equal(root.message, 'hello from Client4');
        assert.equal(root.root_id, '');
        assert.equal(root.delete_at, 0);
        assertRecent(root.create_at, 'post.create_at');
        assert.ok(root.update_at >= root.create_at);
        assert.match(reply.id, ID_RE);
        assert.notEqual(reply.id, root.id);
        assert.equal(reply.root_id, root.id);
        assert.equal(reply.user_id, bob.user.id);
        assert.equal(reply.message, 'a reply');
    });

    step('gets the thread', ['users', 'root', 'reply'], async () => {
        const thread = await s.users.carol.client.getPostThread(s.root.id);
        const want = [s.root.id, s.reply.id].sort();
        assert.deepEqual([...thread.order].sort(), want);
        assert.deepEqual(Object.keys(thread.posts).sort(), want);
        assert.equal(thread.posts[s.root.id].message, 'hello from Client4');
        assert.equal(thread.posts[s.reply.id].root_id, s.root.id);
    });

    step('lists channel posts newest first', ['users', 'channels', 'root', 'reply'], async () => {
        const list = await s.users.carol.client.getPosts(s.channels.open.id, 0, 60);
        assert.ok(list.order.includes(s.root.id) && list.order.includes(s.reply.id));
        assertNewestFirst(list);
        assert.equal(list.order[0], s.reply.id, 'the reply is the newest post');
        assert.equal(typeof list.next_post_id, 'string');
        assert.equal(typeof list.prev_post_id, 'string');
        const one = await s.users.carol.client.getPosts(s.channels.open.id, 1, 1);
        assert.deepEqual(one.order, [s.root.id]);
    });

    step('gets posts since a time (exclusive) and sees new ones', ['users', 'channels', 'root', 'reply'], async () => {
        const {alice, bob} = s.users;
        const channelId = s.channels.open.id;
        const all = await bob.client.getPosts(channelId, 0, 200);
        const since = Math.max(...Object.values(all.posts).map((p) => p.update_at));
        const nothing = await bob.client.getPostsSince(channelId, since);
        assert.deepEqual(nothing.order, [], `since=${since} is exclusive: nothing changed after it`);

        const reply2 = await bob.client.createPost({channel_id: channelId, message: 'second reply', root_id: s.root.id});
        const newer = await alice.client.createPost({channel_id: channelId, message: 'a new root'});
        const got = await alice.client.getPostsSince(channelId, since);
        for (const id of [reply2.id, newer.id, s.root.id]) {
            assert.ok(got.order.includes(id), `${id} missing from since=${since}: ${got.order}`);
        }
        assert.ok(!got.order.includes(s.reply.id), 'an unchanged older reply must not be returned by since');
        for (const id of got.order) {
            assert.ok(got.posts[id].update_at > since, `post ${id} update_at <= since`);
        }
        assertNewestFirst(got);
        assert.equal(got.order[0], newer.id);
    });

    step('uploads a file, attaches it, downloads it byte-exact', ['users', 'channels'], async () => {
        const {alice, bob, carol} = s.users;
        const channelId = s.channels.private.id;
        const name = `starling-${randomBytes(4).toString('hex')}.bin`;
        const bytes = Buffer.concat([Buffer.from([...Array(256).keys()]), randomBytes(200_000), Buffer.from('\r\n\0end')]);
        const clientId = unique('cid');

        const form = new FormData();
        form.append('channel_id', channelId); // before the files part, as the webapp does
        form.append('client_ids', clientId);
        form.append('files', new Blob([bytes]), name);
        const uploaded = await alice.client.uploadFile(form);
        assert.equal(uploaded.file_infos.length, 1);
        assert.deepEqual(uploaded.client_ids, [clientId]);
        const info = uploaded.file_infos[0];
        assert.match(info.id, ID_RE);
        assert.equal(info.name, name);
        assert.equal(info.size, bytes.length);
        assert.equal(info.channel_id, channelId);
        assert.equal(info.mime_type, 'application/octet-stream');

        const post = await alice.client.createPost({channel_id: channelId, message: 'with a file', file_ids: [info.id]});
        assert.deepEqual(post.file_ids, [info.id]);

        for (const who of [alice, bob]) {
            // eslint-disable-next-line no-await-in-loop
            const res = await fetch(who.client.getFileUrl(info.id), {
                headers: {Authorization: `Bearer ${who.client.getToken()}`},
                signal: AbortSignal.timeout(20_000),
            });
            assert.equal(res.status, 200);
            // eslint-disable-next-line no-await-in-loop
            const got = Buffer.from(await res.arrayBuffer());
            assert.equal(got.length, bytes.length);
            assert.ok(got.equals(bytes), 'downloaded bytes differ from the upload');
            assert.ok((res.headers.get('content-type') || '').startsWith('application/octet-stream'));
            assert.ok((res.headers.get('content-disposition') || '').includes(name));
        }

        const meta = await bob.client.doFetch(`${bob.client.getFileRoute(info.id)}/info`, {method: 'get'});
        assert.equal(meta.id, info.id);
        assert.equal(meta.name, name);
        assert.equal(meta.size, bytes.length);
        assert.equal(meta.post_id, post.id);
        assert.equal(meta.channel_id, channelId);

        const denied = await fetch(carol.client.getFileUrl(info.id), {
            headers: {Authorization: `Bearer ${carol.client.getToken()}`},
            signal: AbortSignal.timeout(20_000),
        });
        assert.equal(denied.status, 403, 'a non-member downloaded a private channel file');
        await denied.arrayBuffer();
    });

    step('keeps a private channel closed to non-members', ['users', 'channels'], async () => {
        const {bob, carol} = s.users;
        const channelId = s.channels.private.id;
        const post = await bob.client.createPost({channel_id: channelId, message: 'members only'});
        const seen = await bob.client.getPosts(channelId, 0, 60);
        assert.ok(seen.order.includes(post.id));
        await rejectsWith(carol.client.getPosts(channelId, 0, 60), 403);
        await rejectsWith(carol.client.getPostsSince(channelId, Date.now() - 60_000), 403);
        await rejectsWith(carol.client.createPost({channel_id: channelId, message: 'let me in'}), 403);
    });

    step('logs out, and the old token is refused with 401', ['users'], async () => {
        const {alice} = s.users;
        const {client} = await loginAs(alice.name);
        const oldToken = client.getToken();
        assert.ok(oldToken && oldToken !== alice.client.getToken());

        const res = await client.logout();
        assert.equal(res.status, 200);
        assert.equal(client.getToken(), '', 'Client4 clears its token only on a 2xx logout');

        client.setToken(oldToken);
        await rejectsWith(client.getMe(), 401);

        const raw = await fetch(`${URL}/api/v4/users/me`, {
            headers: {Authorization: `BEARER ${oldToken}`},
            signal: AbortSignal.timeout(20_000),
        });
        assert.equal(raw.status, 401);
        assert.equal(raw.headers.get('content-type'), 'application/json');
        const body = await raw.json();
        for (const key of ERROR_KEYS) {
            assert.ok(key in body, `error body without ${key}: ${JSON.stringify(body)}`);
        }
        assert.equal(body.status_code, 401);

        const me = await alice.client.getMe(); // the other session still works
        assert.equal(me.id, alice.user.id);
    });
    // The runner keeps this server's config in the database (MM_CONFIG): the config API works
    // the same way, and what is saved is what the server then runs.
    step('reads, patches, saves and reloads the config as system admin only', ['admin', 'users'], async () => {
        const admin = s.admin.client;
        const clientConfig = await newClient().getClientConfig();
        assert.equal(typeof clientConfig.Version, 'string');
        assert.equal(clientConfig.PasswordMinimumLength, String((await admin.getConfig()).PasswordSettings.MinimumLength));
        assert.equal((await newClient().getClientLicenseOld()).IsLicensed, 'false');
        const cfg = await admin.getConfig();
        assert.equal(cfg.SqlSettings.DataSource, '********************************', 'secrets are hidden');
        assert.equal(typeof cfg.ServiceSettings.ListenAddress, 'string');
        const env = await admin.getEnvironmentConfig();
        assert.equal(env.ServiceSettings.ListenAddress, true, JSON.stringify(env));

        const patched = await admin.patchConfig({PasswordSettings: {MinimumLength: 20}});
        assert.equal(patched.PasswordSettings.MinimumLength, 20);
        const name = unique('shortpw');
        await rejectsWith(admin.createUser({username: name, email: `${name}@example.com`, password: 'seventeen-chars!!'}), 400);

        const saved = await admin.updateConfig({...patched, PasswordSettings: {...patched.PasswordSettings, MinimumLength: 8}});
        assert.equal(saved.PasswordSettings.MinimumLength, 8);
        assert.equal(saved.SqlSettings.DataSource, '********************************');
        const res = await admin.reloadConfig();
        assert.equal(res.status, 'OK');
        assert.equal((await admin.getConfig()).PasswordSettings.MinimumLength, 8, 'the saved config survives a reload');
        await admin.createUser({username: name, email: `${name}@example.com`, password: 'seventeen-chars!!'});

        const {alice} = s.users;
        await rejectsWith(alice.client.getConfig(), 403);
        await rejectsWith(alice.client.patchConfig({PasswordSettings: {MinimumLength: 5}}), 403);
        await rejectsWith(admin.patchConfig({PasswordSettings: {MinimumLength: 'long'}}), 400);
    });
});
