// Mentions and search through the web app's mattermost-redux store, on two nodes of a cluster:
// Bob's store is on node 2 (cookies and X-CSRF-Token, as a browser); Alice and Carol work on
// node 1. Assertions are on Bob's store: the @-mention autocomplete's in-channel and
// out-of-channel profiles, the ~channel autocomplete, a mention of him arriving live, and post
// search with Mattermost's terms finding what was posted on the other node.

import assert from 'node:assert/strict';
import {after, before, describe, it} from 'node:test';

import clientPkg from '@mattermost/client';
import storePkg from 'mattermost-redux/store';
import usersActions from 'mattermost-redux/actions/users';
import channelsActions from 'mattermost-redux/actions/channels';
import searchActions from 'mattermost-redux/actions/search';
import generalActions from 'mattermost-redux/actions/general';

import {TEST, URLS, browserLogin, requests, signUp, socket, unique, useAsBrowser} from './harness.mjs';

const {Client4: Client4Class} = clientPkg;
const configureStore = storePkg.default;

describe('mentions and search through mattermost-redux on two nodes', {concurrency: false}, () => {
    let node1;
    let node2;
    let alice;
    let carol;
    let bob;
    let bobWs;
    let store;
    let team;
    let town;
    let side;

    const state = () => store.getState();
    const dispatch = (action) => store.dispatch(action);

    before(async () => {
        assert.equal(URLS.length, 2, 'STARLING_URLS names two nodes of one cluster');
        [node1, node2] = URLS;
        await signUp(node1, 'admin');
        const a = await signUp(node1, 'alice');
        const b = await signUp(node2, 'bob');
        const c = await signUp(node1, 'carol');
        const aliceLogin = await browserLogin(node1, a.username);
        alice = {user: a, client: new Client4Class()};
        alice.client.setUrl(node1);
        alice.client.setToken(aliceLogin.token);
        team = await alice.client.createTeam({name: unique('t'), display_name: 'Mentions', type: 'O'});
        await alice.client.addToTeam(team.id, b.id);
        await alice.client.addToTeam(team.id, c.id);
        town = (await alice.client.getChannelByName(team.id, 'town-square')).id;
        // A channel with Alice and Bob only: Carol is in the team, not in it.
        side = await alice.client.createChannel({team_id: team.id, name: unique('side'), display_name: 'Side Project', type: 'O'});
        await alice.client.addToChannel(b.id, side.id);
        const carolLogin = await browserLogin(node1, c.username);
        carol = {user: c, client: new Client4Class()};
        carol.client.setUrl(node1);
        carol.client.setToken(carolLogin.token);

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

    it('autocompletes @-mentions in a channel: its members, then the team\'s others', TEST, async () => {
        // Everyone's usernames are "<role><hex>": "a" starts alice's and admin's, "c" carol's.
        const r = await dispatch(usersActions.autocompleteUsers(alice.user.username.slice(0, 3), team.id, side.id));
        assert.equal(r.error, undefined, JSON.stringify(r.error));
        const inChannel = state().entities.users.profilesInChannel[side.id];
        assert.ok(inChannel?.has(alice.user.id), 'Alice is in the channel');
        const c = await dispatch(usersActions.autocompleteUsers('car', team.id, side.id));
        assert.equal(c.error, undefined, JSON.stringify(c.error));
        assert.deepEqual(c.data.users, []);
        assert.deepEqual(c.data.out_of_channel.map((u) => u.id), [carol.user.id]);
        assert.ok(state().entities.users.profilesNotInChannel[side.id]?.has(carol.user.id), 'Carol is offered out of the channel');
        assert.equal(state().entities.users.profiles[carol.user.id]?.username, carol.user.username);
        // Team mode answers {users}.
        const t = await dispatch(usersActions.autocompleteUsers('car', team.id));
        assert.deepEqual(t.data.users.map((u) => u.id), [carol.user.id]);
        assert.ok(state().entities.users.profilesInTeam[team.id]?.has(carol.user.id));
    });

    it('autocompletes ~channels and searches group messages', TEST, async () => {
        const r = await dispatch(channelsActions.autocompleteChannels(team.id, 'side'));
        assert.equal(r.error, undefined, JSON.stringify(r.error));
        assert.deepEqual(r.data.map((ch) => ch.id), [side.id]);
        assert.equal(state().entities.channels.channels[side.id]?.display_name, 'Side Project');
        const s = await dispatch(channelsActions.autocompleteChannelsForSearch(team.id, 'proj'));
        assert.deepEqual(s.data.map((ch) => ch.id), [side.id], 'a later word of the display name');
        const gm = await alice.client.createGroupChannel([alice.user.id, bob.user.id, carol.user.id]);
        const g = await dispatch(channelsActions.searchGroupChannels(carol.user.username.slice(0, 5)));
        assert.equal(g.error, undefined, JSON.stringify(g.error));
        assert.deepEqual(g.data.map((ch) => ch.id), [gm.id]);
    });

    it('hears a mention made on the other node, and finds it with search terms', TEST, async () => {
        const post = await alice.client.createPost({channel_id: side.id, message: `@${bob.user.username} the #launch checklist is ready`});
        const ev = await bobWs.next('posted', (e) => JSON.parse(e.data.post).id === post.id);
        assert.deepEqual(JSON.parse(ev.data.mentions), [bob.user.id]);
        await carol.client.createPost({channel_id: town, message: 'the #launch party is on friday'});

        const params = (terms) => ({terms, is_or_search: false, include_deleted_channels: false, time_zone_offset: 0, page: 0, per_page: 20});
        const r = await dispatch(searchActions.searchPostsWithParams(team.id, params(`#launch from:${alice.user.username}`)));
        assert.equal(r.error, undefined, JSON.stringify(r.error));
        assert.deepEqual(state().entities.search.results, [post.id]);
        assert.equal(state().entities.posts.posts[post.id]?.message, post.message);
        const both = await dispatch(searchActions.searchPostsWithParams(team.id, params('#launch')));
        assert.equal(both.data.order.length, 2);
        const excluded = await dispatch(searchActions.searchPostsWithParams(team.id, params(`#launch -in:${side.name}`)));
        assert.equal(excluded.data.order.length, 1);
        assert.notEqual(excluded.data.order[0], post.id);
        const prefix = await dispatch(searchActions.searchPostsWithParams(team.id, params('checkl*')));
        assert.deepEqual(prefix.data.order, [post.id]);
        assert.deepEqual(state().errors, []);
    });
});
