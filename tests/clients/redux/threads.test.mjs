// Avatars and collapsed reply threads through the web app's mattermost-redux store, on two nodes
// of a cluster. Bob's store is on node 2, as a browser; Alice works on node 1 with her own
// Client4. Assertions are on Bob's store: Alice's new picture (last_picture_update, served by
// Bob's node), the threads he follows and their unread counts as replies arrive from node 1,
// marking read, and unfollowing.

import assert from 'node:assert/strict';
import {after, before, describe, it} from 'node:test';

import clientPkg from '@mattermost/client';
import reduxClient from 'mattermost-redux/client';
import storePkg from 'mattermost-redux/store';
import usersActions from 'mattermost-redux/actions/users';
import postsActions from 'mattermost-redux/actions/posts';
import threadsActions from 'mattermost-redux/actions/threads';
import generalActions from 'mattermost-redux/actions/general';
import teamsActions from 'mattermost-redux/actions/teams';

import {solidPng} from '../../lib/png.mjs';
import {TEST, browserLogin, requests, signUp, socket, unique, waitFor, useAsBrowser, URLS} from './harness.mjs';

const {Client4: Client4Class} = clientPkg;
const {Client4} = reduxClient;
const configureStore = storePkg.default;

describe('avatars and collapsed reply threads through mattermost-redux on two nodes', {concurrency: false}, () => {
    let node1;
    let node2;
    let alice;
    let bob;
    let bobWs;
    let store;
    let teamId;
    let town;

    const state = () => store.getState();
    const dispatch = (action) => store.dispatch(action);
    // getThreadCounts fills countsIncludingDirect; the team unreads (thread_count) fill counts.
    const counts = () => state().entities.threads.countsIncludingDirect[teamId];
    const teamCounts = () => state().entities.threads.counts[teamId];

    before(async () => {
        assert.equal(URLS.length, 2, 'STARLING_URLS names two nodes of one cluster');
        [node1, node2] = URLS;
        await signUp(node1, 'admin');
        const a = await signUp(node1, 'alice');
        const b = await signUp(node2, 'bob');
        const aliceLogin = await browserLogin(node1, a.username);
        alice = {user: a, client: new Client4Class()};
        alice.client.setUrl(node1);
        alice.client.setToken(aliceLogin.token);
        const team = await alice.client.createTeam({name: unique('t'), display_name: 'Threads', type: 'O'});
        teamId = team.id;
        await alice.client.addToTeam(team.id, b.id);
        town = (await alice.client.getChannelByName(team.id, 'town-square')).id;

        const bobLogin = await browserLogin(node2, b.username);
        bob = {user: b, jar: bobLogin.jar};
        useAsBrowser(node2, bob.jar);
        store = configureStore({});
        await dispatch(generalActions.getClientConfig());
        const me = await dispatch(usersActions.loadMe());
        assert.equal(me.error, undefined, JSON.stringify(me.error));
        bobWs = socket(node2, bobLogin.token);
        await bobWs.next('hello');
    });

    after(() => {
        bobWs?.client.close();
        const bad = requests.filter((r) => r.status === 401 || r.status >= 500);
        assert.deepEqual(bad, [], 'no call answered 401 or 5xx');
    });

    it('sees the picture Alice uploads on the other node, served by its own node', TEST, async () => {
        const cookie = {headers: {Cookie: `MMAUTHTOKEN=${bob.jar.MMAUTHTOKEN}`}};
        const before = await fetch(Client4.getProfilePictureUrl(alice.user.id, 0), cookie);
        assert.equal(before.status, 200);
        const initials = Buffer.from(await before.arrayBuffer());

        await alice.client.uploadProfileImage(alice.user.id, new Blob([solidPng(64, 48, [200, 30, 30])], {type: 'image/png'}));
        const ev = await bobWs.next('user_updated', (e) => e.data.user?.id === alice.user.id);
        assert.ok(ev.data.user.last_picture_update > 0, JSON.stringify(ev.data.user));

        const got = await dispatch(usersActions.getProfilesByIds([alice.user.id]));
        assert.equal(got.error, undefined, JSON.stringify(got.error));
        const profile = state().entities.users.profiles[alice.user.id];
        assert.equal(profile.last_picture_update, ev.data.user.last_picture_update);

        const url = Client4.getProfilePictureUrl(alice.user.id, profile.last_picture_update);
        assert.match(url, new RegExp(`^${node2}/api/v4/users/${alice.user.id}/image\\?_=\\d+$`));
        const img = await fetch(url, cookie);
        assert.equal(img.status, 200);
        assert.equal(img.headers.get('content-type'), 'image/png');
        const picture = Buffer.from(await img.arrayBuffer());
        assert.notDeepEqual(picture, initials, 'the uploaded picture replaces the initials');

        // Back to the initials: the default picture again, and the store says so.
        const reset = await alice.client.setDefaultProfileImage(alice.user.id);
        assert.equal(reset.status, 'OK');
        const again = await bobWs.next('user_updated', (e) => e.data.user?.id === alice.user.id && e.data.user.last_picture_update !== profile.last_picture_update);
        const def = await fetch(Client4.getProfilePictureUrl(alice.user.id, again.data.user.last_picture_update), cookie);
        assert.deepEqual(Buffer.from(await def.arrayBuffer()), initials);
        assert.deepEqual(state().errors, []);
    });

    it('follows a thread it replied to, counts replies from the other node, and reads them', TEST, async () => {
        const root = await alice.client.createPost({channel_id: town, message: 'release notes?'});
        const mine = await dispatch(postsActions.createPost({channel_id: town, message: 'drafting them', root_id: root.id, user_id: bob.user.id}));
        assert.equal(mine.error, undefined, JSON.stringify(mine.error));
        // The store sends a post in the background: wait until the server has it.
        await waitFor('the reply stored', async () => (await alice.client.getPostThread(root.id)).order.length === 2);

        // (getThreadCounts keeps the unread totals only; the list's `total` comes with fetchThreads.)
        const c0 = await dispatch(threadsActions.getThreadCounts(bob.user.id, teamId));
        assert.equal(c0.error, undefined, JSON.stringify(c0.error));
        assert.equal(counts().total_unread_threads, 0, JSON.stringify(counts()));
        const all = await dispatch(threadsActions.fetchThreads(bob.user.id, teamId, {}));
        assert.equal(all.error, undefined, JSON.stringify(all.error));
        assert.equal(all.data.total, 1, JSON.stringify(all.data));
        assert.deepEqual(all.data.threads.map((t) => t.id), [root.id]);

        // Two replies from node 1, one mentioning Bob: his node says the thread changed.
        await alice.client.createPost({channel_id: town, message: 'thanks', root_id: root.id});
        await alice.client.createPost({channel_id: town, message: `@${bob.user.username} ping me when done`, root_id: root.id});
        await bobWs.next('thread_updated', (e) => JSON.parse(e.data.thread).unread_replies === 2);

        const got = await dispatch(threadsActions.getThread(bob.user.id, teamId, root.id));
        assert.equal(got.error, undefined, JSON.stringify(got.error));
        const thread = state().entities.threads.threads[root.id];
        assert.ok(thread, JSON.stringify(Object.keys(state().entities.threads.threads)));
        assert.equal(thread.reply_count, 3);
        assert.equal(thread.unread_replies, 2);
        assert.equal(thread.unread_mentions, 1);
        assert.deepEqual(new Set(thread.participants.map((p) => p.id ?? p)), new Set([alice.user.id, bob.user.id]));
        await dispatch(threadsActions.getThreadCounts(bob.user.id, teamId));
        assert.equal(counts().total_unread_threads, 1, JSON.stringify(counts()));
        assert.equal(counts().total_unread_mentions, 1, JSON.stringify(counts()));
        const unreads = await dispatch(teamsActions.getMyTeamUnreads(true));
        assert.equal(unreads.error, undefined, JSON.stringify(unreads.error));
        assert.equal(teamCounts().total_unread_threads, 1, JSON.stringify(teamCounts()));
        assert.equal(teamCounts().total_unread_mentions, 1, JSON.stringify(teamCounts()));

        const read = await dispatch(threadsActions.updateThreadRead(bob.user.id, teamId, root.id, Date.now()));
        assert.equal(read.error, undefined, JSON.stringify(read.error));
        await bobWs.next('thread_read_changed', (e) => e.data.thread_id === root.id);
        const one = await dispatch(threadsActions.getThread(bob.user.id, teamId, root.id));
        assert.equal(one.error, undefined, JSON.stringify(one.error));
        assert.equal(state().entities.threads.threads[root.id].unread_replies, 0);
        await dispatch(threadsActions.getThreadCounts(bob.user.id, teamId));
        assert.equal(counts().total_unread_threads, 0, JSON.stringify(counts()));
        assert.equal(counts().total_unread_mentions, 0, JSON.stringify(counts()));
        await dispatch(teamsActions.getMyTeamUnreads(true));
        assert.equal(teamCounts().total_unread_threads, 0, JSON.stringify(teamCounts()));

        // Unfollowed, the thread leaves his list, and a new reply does not count.
        const unfollow = await dispatch(threadsActions.setThreadFollow(bob.user.id, teamId, root.id, false));
        assert.equal(unfollow.error, undefined, JSON.stringify(unfollow.error));
        await bobWs.next('thread_follow_changed', (e) => e.data.thread_id === root.id && e.data.state === false);
        await alice.client.createPost({channel_id: town, message: 'one more', root_id: root.id});
        await waitFor('the reply stored', async () => (await alice.client.getPostThread(root.id)).order.length === 5);
        await dispatch(threadsActions.getThreadCounts(bob.user.id, teamId));
        assert.equal(counts().total_unread_threads, 0, JSON.stringify(counts()));
        const none = await dispatch(threadsActions.fetchThreads(bob.user.id, teamId, {}));
        assert.equal(none.data.total, 0, JSON.stringify(none.data));
        assert.deepEqual(state().errors, []);
    });
});
