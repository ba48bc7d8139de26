// Websocket events against a running Starling, received by the official
// Mattermost JS client (WebSocketClient from @mattermost/client) in Node, with
// the `ws` package supplying WebSocket. Run with `node --test` and
// STARLING_URL=http://127.0.0.1:<port>, against a server whose database is empty:
// the first user created here becomes the admin that creates the others (or set
// STARLING_ADMIN_LOGIN and STARLING_ADMIN_PASSWORD to an existing admin).
//
// Every socket the client opens is recorded (URL, frames in and out, close code),
// and a failure shows them with the client's own console output. Every wait is
// bounded.

import assert from 'node:assert/strict';
import {randomBytes} from 'node:crypto';
import {after, before, describe, it} from 'node:test';
import {setTimeout as sleep} from 'node:timers/promises';

import mm from '@mattermost/client';
import WebSocket from 'ws';

const {Client4, WebSocketClient} = mm;

// Node 20 has neither WebSocket nor CloseEvent; the client uses both as globals
// (WebSocket.OPEN, and `new CloseEvent(...)` when it closes a socket itself after
// a sequence gap or an unanswered ping).
globalThis.WebSocket = WebSocket;
if (typeof globalThis.CloseEvent === 'undefined') {
    globalThis.CloseEvent = class CloseEvent extends Event {
        constructor(type, init = {}) {
            super(type);
            this.code = init.code ?? 0;
            this.reason = init.reason ?? '';
            this.wasClean = init.wasClean ?? false;
        }
    };
}

const URL_BASE = (process.env.STARLING_URL || '').replace(/\/+$/, '');
const TEST = {timeout: 60_000}; // every test is bounded
const WAIT = 15_000; // every wait inside a test is bounded
const RETRY = {minWebSocketRetryTime: 1500, reconnectJitterRange: 100}; // reconnect after 1.5-1.6 s
const GAP = {minWebSocketRetryTime: 600_000}; // no reconnect until the test calls reconnectNow()
const PASSWORD = `Starling-${randomBytes(8).toString('hex')}`;
const ID_RE = /^[a-z0-9]{26}$/;
const ID_ALPHABET = 'ybndrfg8ejkmcpqxot1uwisza345h769';

const unique = (prefix) => `${prefix}${randomBytes(5).toString('hex')}`;
const randomId = () => Array.from(randomBytes(26), (b) => ID_ALPHABET[b % 32]).join('');
const clip = (text, n = 400) => (text.length > n ? `${text.slice(0, n)}...` : text);

// The client logs to console.log (connecting, closed, missed events, ...): keep
// those lines for failure reports instead of mixing them into the test output.
const clientLog = [];
console.log = (...args) => {
    const line = args.map((a) => {
        if (typeof a === 'string') {
            return a;
        }
        try {
            return JSON.stringify(a);
        } catch {
            return String(a);
        }
    }).join(' ');
    clientLog.push(`${new Date().toISOString()} ${clip(line, 300)}`);
    if (clientLog.length > 40) {
        clientLog.shift();
    }
};

function parse(raw) {
    try {
        return JSON.parse(raw);
    } catch {
        return null;
    }
}

// ------------------------------------------------------------------ a recorded client

const harnesses = new Set();

// Harness: a WebSocketClient whose sockets are recorded. auth is how the upgrade
// request is authenticated: 'cookie' (MMAUTHTOKEN, as the webapp in a browser),
// 'bearer' (Authorization header) or 'none' (then pass the token to start(), and
// the client sends an authentication_challenge).
class Harness {
    constructor(name, {token, auth = 'cookie', config = {}} = {}) {
        this.name = name;
        this.frames = []; // {n, dir: 'in'|'out', t, raw, msg}
        this.sockets = [];
        this.urls = []; // {url, t}
        this.closes = []; // {n, code, reason, t}
        this.events = []; // what the client's message listeners got
        this.missed = 0; // missed-message listener calls (a new connection_id on hello)
        this.reconnects = 0;
        this.client = new WebSocketClient({
            ...RETRY,
            ...config,
            newWebSocketFn: (url) => this.open(url, token, auth),
        });
        this.client.addMessageListener((msg) => this.events.push(msg));
        this.client.addMissedMessageListener(() => {
            this.missed += 1;
        });
        this.client.addReconnectListener(() => {
            this.reconnects += 1;
        });
        harnesses.add(this);
    }

    open(url, token, auth) {
        const n = this.sockets.length;
        const headers = {};
        if (auth === 'cookie') {
            headers.Cookie = `MMAUTHTOKEN=${token}`;
        } else if (auth === 'bearer') {
            headers.Authorization = `Bearer ${token}`;
        }
        const ws = new WebSocket(url, {headers});
        this.urls.push({url, t: Date.now()});
        this.sockets.push(ws);
        // registered before the client sets ws.onmessage: frames are recorded first
        ws.addEventListener('message', (e) => {
            const raw = String(e.data);
            this.frames.push({n, dir: 'in', t: Date.now(), raw, msg: parse(raw)});
        });
        ws.addEventListener('close', (e) => {
            this.closes.push({n, code: e.code, reason: String(e.reason || ''), t: Date.now()});
        });
        const send = ws.send.bind(ws);
        ws.send = (data, ...rest) => {
            const raw = String(data);
            this.frames.push({n, dir: 'out', t: Date.now(), raw, msg: parse(raw)});
            return send(data, ...rest);
        };
        return ws;
    }

    start(url, token) {
        this.startArgs = [url, token];
        this.client.initialize(url, token);
        return this;
    }

    // reconnectNow(): what the client's reconnect timer does when it fires
    // (clear it, initialize again). With a long minWebSocketRetryTime, a test
    // decides when the gap after a lost socket ends.
    reconnectNow() {
        assert.ok(this.client.reconnectTimeout, 'the client has no reconnect pending');
        this.client.clearReconnectTimeout();
        this.client.initialize(...this.startArgs);
    }

    // received(): the frames the server sent, parsed; on socket n only if given.
    received(n) {
        return this.frames.filter((f) => f.dir === 'in' && f.msg && (n === undefined || f.n === n)).map((f) => f.msg);
    }

    rawEvents(n) {
        return this.received(n).filter((m) => m.event !== undefined);
    }

    sent(n) {
        return this.frames.filter((f) => f.dir === 'out' && f.msg && (n === undefined || f.n === n)).map((f) => f.msg);
    }

    posted() {
        return this.events.filter((e) => e.event === 'posted').map((e) => JSON.parse(e.data.post));
    }

    describe() {
        const frames = this.frames.slice(-14).map((f) => `  #${f.n} ${f.dir === 'in' ? '<-' : '->'} ${clip(f.raw)}`);
        return [
            `[${this.name}] ${this.sockets.length} socket(s); urls: ${this.urls.map((u) => u.url.replace(/^.*\?/, '?')).join(' | ')}`,
            `  closes: ${JSON.stringify(this.closes)}; missed-listener calls: ${this.missed}; reconnects: ${this.reconnects}`,
            `  client state: connectionId=${this.client.connectionId} serverSequence=${this.client.serverSequence}`,
            `  last frames (of ${this.frames.length}):`,
            ...frames,
        ].join('\n');
    }

    dispose() {
        this.client.close();
        this.client.clearReconnectTimeout();
        this.client.stopPingInterval();
        for (const ws of this.sockets) {
            if (ws.readyState !== WebSocket.CLOSED) {
                ws.terminate();
            }
        }
        harnesses.delete(this);
    }
}

// waitFor(cond, what): poll until cond() is truthy, at most `ms`.
async function waitFor(cond, what, ms = WAIT) {
    const deadline = Date.now() + ms;
    for (;;) {
        const got = cond();
        if (got) {
            return got;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        }
        // eslint-disable-next-line no-await-in-loop
        await sleep(20);
    }
}

// reply(send): call send(callback) (a WebSocketClient action) and wait for the
// server's answer to it.
function reply(send, what) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no reply to ${what} within ${WAIT} ms`)), WAIT);
        send((msg) => {
            clearTimeout(timer);
            resolve(msg);
        });
    });
}

// wsTest(name, fn): a test whose failure report shows every open harness and the
// client's log; the harnesses it made are disposed of at its end.
function wsTest(name, fn) {
    it(name, TEST, async (t) => {
        if (!s.ready) {
            t.skip('the setup failed');
            return;
        }
        const mine = [];
        const make = (...args) => {
            const h = new Harness(...args);
            mine.push(h);
            return h;
        };
        const logStart = clientLog.length;
        try {
            await fn(make);
        } catch (err) {
            const details = mine.map((h) => h.describe()).join('\n');
            err.message += `\n${details}\nclient log:\n  ${clientLog.slice(Math.max(0, logStart - 5)).join('\n  ')}`;
            throw err;
        } finally {
            for (const h of mine) {
                h.dispose();
            }
        }
    });
}

// ------------------------------------------------------------------ checks

function assertContiguous(events, what) {
    const seqs = events.map((e) => e.seq);
    const want = seqs.map((_, i) => i);
    assert.deepEqual(seqs, want, `${what}: event seq is not 0, 1, 2, ...`);
}

function assertHello(msg) {
    assert.equal(msg.event, 'hello', `the first event is not hello: ${JSON.stringify(msg)}`);
    assert.equal(msg.seq, 0, `hello has seq ${msg.seq}`);
    assert.match(String(msg.data?.connection_id), ID_RE, `hello without a connection_id: ${JSON.stringify(msg)}`);
    assert.ok('server_hostname' in msg.data, `hello without server_hostname: ${JSON.stringify(msg)}`);
}

function countBy(ids) {
    const counts = new Map();
    for (const id of ids) {
        counts.set(id, (counts.get(id) || 0) + 1);
    }
    return counts;
}

// ------------------------------------------------------------------ the world

const s = {}; // admin, alice, bob, carol ({client, user, token}), team, channel, wsUrl

function newClient(token) {
    const client = new Client4();
    client.setUrl(URL_BASE);
    if (token) {
        client.setToken(token);
    }
    return client;
}

async function loginAs(username, password = PASSWORD) {
    const client = newClient();
    const user = await client.login(username, password);
    return {client, user, token: client.getToken()};
}

async function post(who, message) {
    return s[who].client.createPost({channel_id: s.channel.id, message});
}

describe('WebSocketClient', {skip: URL_BASE ? false : 'STARLING_URL is not set'}, () => {
    before(async () => {
        if (process.env.STARLING_ADMIN_LOGIN) {
            s.admin = await loginAs(process.env.STARLING_ADMIN_LOGIN, process.env.STARLING_ADMIN_PASSWORD);
        } else {
            const name = unique('wsadmin');
            await newClient().createUser({username: name, email: `${name}@example.com`, password: PASSWORD});
            s.admin = await loginAs(name);
            assert.ok(s.admin.user.roles.split(' ').includes('system_admin'),
                `the first user is not system admin (${s.admin.user.roles}): is the database empty?`);
        }
        for (const who of ['alice', 'bob', 'carol']) {
            const name = unique(who);
            // eslint-disable-next-line no-await-in-loop
            await s.admin.client.createUser({username: name, email: `${name}@example.com`, password: PASSWORD});
            // eslint-disable-next-line no-await-in-loop
            s[who] = await loginAs(name);
        }
        s.team = await s.alice.client.createTeam({name: unique('team-'), display_name: 'Websocket team', type: 'O'});
        for (const who of ['bob', 'carol']) {
            // eslint-disable-next-line no-await-in-loop
            await s.alice.client.addToTeam(s.team.id, s[who].user.id);
        }
        const name = unique('ws-');
        s.channel = await s.alice.client.createChannel({team_id: s.team.id, name, display_name: `ws ${name}`, type: 'O'});
        for (const who of ['bob', 'carol']) {
            // eslint-disable-next-line no-await-in-loop
            await s.alice.client.addToChannel(s[who].user.id, s.channel.id);
        }
        s.wsUrl = s.alice.client.getWebSocketUrl().replace(/^http/, 'ws');
        s.ready = true;
    });

    after(() => {
        for (const h of [...harnesses]) {
            h.dispose();
        }
    });

    wsTest('receives hello, then posted events with contiguous seq (cookie on the upgrade)', async (make) => {
        const bob = make('bob', {token: s.bob.token, auth: 'cookie'}).start(s.wsUrl);
        await waitFor(() => bob.events.length > 0, 'the first event');
        assertHello(bob.events[0]);
        assert.equal(bob.client.connectionId, bob.events[0].data.connection_id);

        // ten posts at once by two users: seq must stay contiguous under concurrent broadcasts
        const created = await Promise.all([...Array(10).keys()].map((i) => post(i % 2 ? 'carol' : 'alice', `ws ${i} ${unique('')}`)));
        const ids = new Set(created.map((p) => p.id));
        await waitFor(() => bob.posted().filter((p) => ids.has(p.id)).length === ids.size, 'the ten posted events');

        for (const p of created) {
            const got = bob.posted().find((q) => q.id === p.id);
            assert.equal(got.message, p.message);
            assert.equal(got.user_id, p.user_id);
            assert.equal(got.channel_id, s.channel.id);
            assert.equal(got.create_at, p.create_at);
            const event = bob.events.find((e) => e.event === 'posted' && JSON.parse(e.data.post).id === p.id);
            assert.equal(event.broadcast?.channel_id, s.channel.id, `posted broadcast: ${JSON.stringify(event.broadcast)}`);
            assert.equal(event.data.channel_type, 'O');
            assert.equal(event.data.team_id, s.team.id);
        }
        assertContiguous(bob.rawEvents(), 'bob');
        assert.equal(bob.events.length, bob.rawEvents().length, 'the client dropped events (seq check)');
        assert.equal(bob.sockets.length, 1, 'the client reconnected');
        assert.deepEqual(bob.closes, []);
    });

    wsTest('authenticates by challenge when the upgrade carries no credentials', async (make) => {
        const carol = make('carol', {auth: 'none'}).start(s.wsUrl, s.carol.token);
        await waitFor(() => carol.events.length > 0, 'the first event');
        assertHello(carol.events[0]);
        const challenge = carol.sent(0)[0];
        assert.equal(challenge?.action, 'authentication_challenge', 'the client did not send a challenge first');
        const answer = await waitFor(() => carol.received().find((m) => m.seq_reply === challenge.seq), 'the challenge reply');
        assert.equal(answer.status, 'OK', `challenge answered ${JSON.stringify(answer)}`);

        const p = await post('alice', `challenge ${unique('')}`);
        await waitFor(() => carol.posted().some((q) => q.id === p.id), 'the posted event');
        assertContiguous(carol.rawEvents(), 'carol');
    });

    wsTest('answers its ping cycle (ping every 400 ms)', async (make) => {
        const bob = make('bob-ping', {token: s.bob.token, auth: 'bearer', config: {clientPingInterval: 400}}).start(s.wsUrl);
        await waitFor(() => bob.events.length > 0, 'hello');
        await sleep(3000);
        const pings = bob.sent(0).filter((m) => m.action === 'ping');
        assert.ok(pings.length >= 5, `the client sent only ${pings.length} pings in 3 s`);
        const replies = new Map(bob.received(0).filter((m) => m.seq_reply).map((m) => [m.seq_reply, m]));
        // the last ping may still be in flight
        for (const ping of pings.slice(0, -1)) {
            const pong = replies.get(ping.seq);
            assert.ok(pong, `ping seq ${ping.seq} was not answered`);
            assert.equal(pong.status, 'OK', JSON.stringify(pong));
            assert.equal(pong.data?.text, 'pong', JSON.stringify(pong));
            assert.equal(typeof pong.data.server_time, 'number', JSON.stringify(pong));
            assert.ok('version' in pong.data && 'node_id' in pong.data, JSON.stringify(pong));
        }
        assert.equal(bob.sockets.length, 1, 'the client gave up on its socket (unanswered ping: close 4000)');
        assert.ok(!clientLog.some((l) => l.includes('ping received no response')), 'the client saw a ping time out');
        assert.deepEqual(bob.closes, []);
    });

    wsTest('answers every action the webapp sends', async (make) => {
        const bob = make('bob-actions', {token: s.bob.token, auth: 'cookie'}).start(s.wsUrl);
        const alice = make('alice-actions', {token: s.alice.token, auth: 'cookie'}).start(s.wsUrl);
        await waitFor(() => bob.events.length > 0 && alice.events.length > 0, 'hello on both');
        const c = bob.client;
        const ok = (msg, what) => assert.equal(msg.status, 'OK', `${what}: ${JSON.stringify(msg)}`);

        ok(await reply((cb) => c.userTyping(s.channel.id, '', cb), 'user_typing'), 'user_typing');
        const typing = await waitFor(() => alice.events.find((e) => e.event === 'typing'), 'alice to get the typing event');
        assert.equal(typing.data?.user_id, s.bob.user.id, JSON.stringify(typing));
        assert.equal(typing.broadcast?.channel_id, s.channel.id, JSON.stringify(typing));

        const statuses = await reply((cb) => c.getStatuses(cb), 'get_statuses');
        ok(statuses, 'get_statuses');
        const byIds = await reply((cb) => c.getStatusesByIds([s.alice.user.id, s.bob.user.id], cb), 'get_statuses_by_ids');
        ok(byIds, 'get_statuses_by_ids');
        assert.equal(byIds.data?.[s.bob.user.id], 'online', `bob is connected: ${JSON.stringify(byIds)}`);
        assert.equal(byIds.data?.[s.alice.user.id], 'online', `alice is connected: ${JSON.stringify(byIds)}`);

        ok(await reply((cb) => c.userUpdateActiveStatus(true, false, cb), 'user_update_active_status'), 'user_update_active_status');
        ok(await reply((cb) => c.updateActiveChannel(s.channel.id, cb), 'presence (channel)'), 'presence (channel)');
        ok(await reply((cb) => c.updateActiveTeam(s.team.id, cb), 'presence (team)'), 'presence (team)');
        ok(await reply((cb) => c.updateActiveThread(false, s.channel.id, cb), 'presence (thread)'), 'presence (thread)');

        const unknown = await reply((cb) => c.sendMessage('no_such_action', {}, cb), 'an unknown action');
        assert.notEqual(unknown.status, 'OK', `an unknown action was accepted: ${JSON.stringify(unknown)}`);
        assert.ok(unknown.error, `an unknown action got no error: ${JSON.stringify(unknown)}`);
        ok(await reply((cb) => c.ping(cb), 'ping after the unknown action'), 'ping after the unknown action');

        await sleep(300);
        assert.ok(!bob.events.some((e) => e.event === 'typing'), 'bob got his own typing event (omit_users)');
        for (const h of [bob, alice]) {
            assertContiguous(h.rawEvents(), h.name);
            assert.equal(h.sockets.length, 1, `${h.name} reconnected`);
        }
    });

    wsTest('resumes after a forced disconnect: no missed, no duplicated events, no new hello', async (make) => {
        const bob = make('bob-resume', {token: s.bob.token, auth: 'cookie', config: GAP}).start(s.wsUrl);
        await waitFor(() => bob.events.length > 0, 'hello');
        const connectionId = bob.events[0].data.connection_id;
        const created = [];
        const receivedAll = () => {
            const got = new Set(bob.posted().map((p) => p.id));
            return created.every((p) => got.has(p.id));
        };

        for (let i = 0; i < 3; i++) {
            // eslint-disable-next-line no-await-in-loop
            created.push(await post('alice', `before ${i}`));
        }
        await waitFor(receivedAll, 'the posts before the disconnect');
        const nextSeq = bob.client.serverSequence;

        // the network drops: the socket dies without a close frame
        bob.sockets[0].terminate();
        await waitFor(() => bob.client.conn === null, 'the client to see its socket close');
        for (let i = 0; i < 5; i++) {
            // eslint-disable-next-line no-await-in-loop
            created.push(await post(i % 2 ? 'carol' : 'alice', `during the gap ${i}`));
        }
        assert.equal(bob.sockets.length, 1, 'the client reconnected during the gap');
        bob.reconnectNow();
        await waitFor(() => bob.reconnects === 1, 'the client to reconnect');
        const resumeUrl = new URL(bob.urls[1].url);
        assert.equal(resumeUrl.searchParams.get('connection_id'), connectionId);
        assert.equal(resumeUrl.searchParams.get('sequence_number'), String(nextSeq));

        await waitFor(receivedAll, 'the posts made during the gap');
        for (let i = 0; i < 3; i++) {
            // eslint-disable-next-line no-await-in-loop
            created.push(await post('alice', `after ${i}`));
        }
        await waitFor(receivedAll, 'the posts after the reconnect');
        await sleep(300); // a late duplicate would show up here

        const counts = countBy(bob.posted().map((p) => p.id));
        const missing = created.filter((p) => !counts.has(p.id)).map((p) => p.message);
        const duplicated = [...counts].filter(([, n]) => n > 1);
        assert.deepEqual(missing, [], 'missed posted events');
        assert.deepEqual(duplicated, [], 'duplicated posted events');
        assert.equal(counts.size, created.length, 'posted events of posts this test did not make');

        const hellos = bob.received().filter((m) => m.event === 'hello');
        assert.equal(hellos.length, 1, `a second hello: the server did not resume (${JSON.stringify(hellos.slice(1))})`);
        assert.equal(bob.missed, 0, 'the client saw a new connection_id and fell back to a full resync');
        assert.equal(bob.client.connectionId, connectionId);
        const replayed = bob.rawEvents(1);
        assert.equal(replayed[0]?.seq, nextSeq, 'the resumed socket did not start at the sequence the client asked for');
        assertContiguous(bob.rawEvents(), 'both sockets together');
        assert.equal(bob.events.length, bob.rawEvents().length, 'the client dropped events (seq check)');
        assert.equal(bob.sockets.length, 2, 'the client reconnected more than once (seq gap: close 4001?)');
        assert.ok(!clientLog.some((l) => l.includes('missed websocket event')), 'the client saw a sequence gap');
    });

    wsTest('starts afresh with a new hello when more events were missed than the dead queue holds (128)', async (make) => {
        const bob = make('bob-overflow', {token: s.bob.token, auth: 'cookie', config: GAP}).start(s.wsUrl);
        await waitFor(() => bob.events.length > 0, 'hello');
        const firstId = bob.events[0].data.connection_id;

        bob.sockets[0].terminate();
        await waitFor(() => bob.client.conn === null, 'the client to see its socket close');
        const asked = bob.client.serverSequence;
        const gap = [];
        for (let batch = 0; batch < 14; batch++) { // 140 posts, ten at a time
            // eslint-disable-next-line no-await-in-loop
            gap.push(...await Promise.all([...Array(10).keys()].map((i) => post('alice', `overflow ${batch}.${i}`))));
        }
        assert.equal(bob.sockets.length, 1, 'the client reconnected during the gap');
        bob.reconnectNow();
        await waitFor(() => bob.reconnects === 1, 'the client to reconnect');
        assert.equal(new URL(bob.urls[1].url).searchParams.get('sequence_number'), String(asked));

        const hello = await waitFor(() => bob.rawEvents(1)[0], 'the first event on the new socket');
        assertHello(hello);
        assert.notEqual(hello.data.connection_id, firstId, 'a resume from a sequence the dead queue no longer holds');
        await waitFor(() => bob.missed === 1, 'the client to notice the new connection_id');
        const replayed = bob.posted().filter((p) => gap.some((g) => g.id === p.id));
        assert.deepEqual(replayed, [], 'the fresh connection replayed old events');

        // what a real client does next: catch up over REST
        const oldest = Math.min(...gap.map((p) => p.create_at));
        const since = await s.bob.client.getPostsSince(s.channel.id, oldest - 1);
        const lost = gap.filter((p) => !since.posts[p.id]).map((p) => `${p.id} (create_at ${p.create_at})`);
        assert.deepEqual(lost, [], `posts missing from the REST catch-up since ${oldest - 1}`);
        const afterPost = await post('alice', 'after the overflow');
        await waitFor(() => bob.posted().some((p) => p.id === afterPost.id), 'a posted event on the new connection');
        assertContiguous(bob.rawEvents(1), 'the new socket');
        assert.equal(bob.sockets.length, 2, 'the client reconnected more than once');
    });

    wsTest('closes the socket of a session that logs out, and refuses it on reconnect', async (make) => {
        const session = await loginAs(s.carol.user.username);
        const carol = make('carol-logout', {token: session.token, auth: 'cookie', config: {minWebSocketRetryTime: 500}}).start(s.wsUrl);
        await waitFor(() => carol.events.length > 0, 'hello');
        await session.client.logout();
        const closed = await waitFor(() => carol.closes.find((c) => c.n === 0), 'the server to close the socket');
        assert.notEqual(closed.code, 1006, `the socket died without a close frame: ${JSON.stringify(closed)}`);
        await waitFor(() => carol.closes.some((c) => c.n === 1), 'a reconnect attempt to fail');
        assert.deepEqual(carol.received().filter((m) => m.event === 'hello').length, 1,
            'the logged-out session got a new hello on reconnect');
    });

    for (const [label, tamper] of [
        ['an unknown connection_id', (client) => {
            client.connectionId = randomId();
        }],
        ['a sequence_number ahead of the server', (client) => {
            client.serverSequence += 1000;
        }],
    ]) {
        wsTest(`starts afresh with a new hello after a reconnect with ${label}`, async (make) => {
            const bob = make(`bob-fresh`, {token: s.bob.token, auth: 'cookie'}).start(s.wsUrl);
            await waitFor(() => bob.events.length > 0, 'hello');
            const firstId = bob.events[0].data.connection_id;
            const first = await post('alice', 'before');
            await waitFor(() => bob.posted().some((p) => p.id === first.id), 'the first posted event');

            bob.sockets[0].terminate();
            await waitFor(() => bob.client.conn === null, 'the client to see its socket close');
            tamper(bob.client);
            const asked = {id: bob.client.connectionId, seq: bob.client.serverSequence};
            await waitFor(() => bob.reconnects === 1, 'the client to reconnect');
            const hello = await waitFor(() => bob.rawEvents(1)[0], 'the first event on the new socket');
            const resumeUrl = new URL(bob.urls[1].url);
            assert.equal(resumeUrl.searchParams.get('connection_id'), asked.id);
            assert.equal(resumeUrl.searchParams.get('sequence_number'), String(asked.seq));

            assertHello(hello);
            assert.notEqual(hello.data.connection_id, firstId, 'the new hello reuses the old connection_id');
            assert.notEqual(hello.data.connection_id, asked.id);
            await waitFor(() => bob.missed === 1, 'the client to notice the new connection_id');
            assert.equal(bob.client.connectionId, hello.data.connection_id);

            const afterPost = await post('alice', 'after');
            await waitFor(() => bob.posted().some((p) => p.id === afterPost.id), 'a posted event on the new connection');
            assertContiguous(bob.rawEvents(1), 'the new socket');
            assert.equal(bob.sockets.length, 2, 'the client reconnected more than once');
        });
    }
});
