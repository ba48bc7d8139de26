// Starling against the Mattermost web app's own data layer: the real mattermost-redux store and
// actions (npm mattermost-redux 11.9.0), on two nodes of a cluster. Bob's store talks to node 2
// the way the web app does in a browser (cookies, X-CSRF-Token from MMCSRF, no Authorization
// header); Alice uses her own Client4 and an official WebSocketClient on node 1. The test
// asserts on Bob's store state (roles, unread and mention counts, categories, the DM) and on the
// events Alice's socket receives.
//
// Run with `node --test` and STARLING_URLS="http://127.0.0.1:<port1> http://127.0.0.1:<port2>",
// two nodes of one cluster on an empty database (tests/clients/run starts them). Every wait is
// bounded; every HTTP call the store makes is recorded, and none may answer 401 or 5xx.

import assert from 'node:assert/strict';
import {after, before, describe, it} from 'node:test';

import clientPkg from '@mattermost/client';
import storePkg from 'mattermost-redux/store';
import generalActions from 'mattermost-redux/actions/general';
import usersActions from 'mattermost-redux/actions/users';
import teamsActions from 'mattermost-redux/actions/teams';
import channelsActions from 'mattermost-redux/actions/channels';
import categoryActions from 'mattermost-redux/actions/channel_categories';
import postsActions from 'mattermost-redux/actions/posts';
import rolesActions from 'mattermost-redux/actions/roles';
import prefsActions from 'mattermost-redux/actions/preferences';
import roleSelectors from 'mattermost-redux/selectors/entities/roles';
import channelUtils from 'mattermost-redux/utils/channel_utils';

import {TEST, URLS, browserLogin, requests, signUp, socket, unique, waitFor, useAsBrowser} from './harness.mjs';

const {Client4: Client4Class} = clientPkg;
const configureStore = storePkg.default;

describe('the Mattermost web app data layer on a two-node cluster', {concurrency: false}, () => {
    let node1;
    let node2;
    let alice; // {user, token, client (Client4 on node 1)}
    let bob; // {user, jar}
    let aliceWs;
    let bobWs;
    let store;
    let teamId;
    let town;

    const state = () => store.getState();
    const dispatch = (action) => store.dispatch(action);
    const unread = (channelId) => channelUtils.calculateUnreadCount(
        state().entities.channels.messageCounts[channelId],
        state().entities.channels.myMembers[channelId],
        false,
    );

    before(async () => {
        assert.equal(URLS.length, 2, 'STARLING_URLS names two nodes of one cluster');
        [node1, node2] = URLS;
        const admin = await signUp(node1, 'admin'); // the first user: system admin
        assert.match(admin.roles, /system_admin/);
        const a = await signUp(node1, 'alice');
        const b = await signUp(node2, 'bob');
        const aliceLogin = await browserLogin(node1, a.username);
        alice = {user: a, token: aliceLogin.token, client: new Client4Class()};
        alice.client.setUrl(node1);
        alice.client.setToken(alice.token);
        const team = await alice.client.createTeam({name: unique('t'), display_name: 'Chat', type: 'O'});
        teamId = team.id;
        await alice.client.addToTeam(teamId, b.id);
        town = (await alice.client.getChannelByName(teamId, 'town-square')).id;

        // Bob's browser: the web app sets no Authorization header and sends the cookies; the
        // CSRF token goes in X-CSRF-Token on writes (Client4 reads it from MMCSRF).
        const bobLogin = await browserLogin(node2, b.username);
        bob = {user: b, jar: bobLogin.jar, token: bobLogin.token};
        useAsBrowser(node2, bob.jar);
        store = configureStore({});
        aliceWs = socket(node1, alice.token);
        bobWs = socket(node2, bob.token);
        await aliceWs.next('hello');
        await bobWs.next('hello');
    });

    after(() => {
        aliceWs?.client.close();
        bobWs?.client.close();
        const bad = requests.filter((r) => r.status === 401 || r.status >= 500);
        assert.deepEqual(bad, [], 'no call answered 401 or 5xx');
    });

    it('starts like the web app: config, loadMe, roles, channels, members, categories', TEST, async () => {
        await dispatch(generalActions.getClientConfig());
        const config = state().entities.general.config;
        assert.equal(config.Version, '10.11.0');
        assert.ok(config.DiagnosticId);
        assert.ok(config.WebsocketPort && config.WebsocketSecurePort);
        assert.equal(config.CollapsedThreads, 'default_on');

        const me = await dispatch(usersActions.loadMe());
        assert.equal(me.error, undefined, JSON.stringify(me.error));
        assert.equal(state().entities.users.currentUserId, bob.user.id);
        assert.match(state().entities.general.serverVersion, /^10\.11\.0\./, 'the version from X-Version-Id');
        assert.ok(state().entities.teams.myMembers[teamId], 'my team member');
        assert.ok(state().entities.teams.teams[teamId], 'my team');
        dispatch(teamsActions.selectTeam(teamId));

        const roleNames = new Set([...bob.user.roles.split(' '), ...state().entities.teams.myMembers[teamId].roles.split(' ')]);
        await dispatch(rolesActions.loadRolesIfNeeded(roleNames));
        await waitFor('the system and team roles', () => state().entities.roles.roles.system_user && state().entities.roles.roles.team_user);

        await dispatch(channelsActions.fetchAllMyTeamsChannels());
        await dispatch(channelsActions.fetchAllMyChannelMembers());
        assert.ok(state().entities.channels.channels[town], 'town-square is in the store');
        assert.ok(state().entities.channels.myMembers[town], 'and my membership of it');
        await waitFor('the channel roles', () => state().entities.roles.roles.channel_user);
        assert.ok(roleSelectors.haveIChannelPermission(state(), teamId, town, 'create_post'), 'the post box shows');
        assert.ok(!roleSelectors.haveIChannelPermission(state(), teamId, town, 'manage_team'));

        const cats = await dispatch(categoryActions.fetchMyCategories(teamId));
        assert.equal(cats.error, undefined);
        const order = state().entities.channelCategories.orderByTeam[teamId];
        assert.equal(order.length, 3);
        const byId = state().entities.channelCategories.byId;
        const kinds = order.map((id) => byId[id].type);
        assert.deepEqual(kinds, ['favorites', 'channels', 'direct_messages']);
        assert.ok(byId[order[1]].channel_ids.includes(town), 'town-square sits in Channels');

        const posts = await dispatch(postsActions.getPostsUnread(town));
        assert.equal(posts.error, undefined, JSON.stringify(posts.error));
        await dispatch(channelsActions.markChannelAsViewedOnServer(town));
        assert.deepEqual(state().errors, [], 'the store logged no error');
    });

    it('counts unread messages and mentions made on the other node', TEST, async () => {
        await alice.client.createPost({channel_id: town, message: 'good morning'});
        const mention = await alice.client.createPost({channel_id: town, message: `@${bob.user.username} standup?`});
        const ev = await bobWs.next('posted', (e) => JSON.parse(e.data.post).id === mention.id);
        assert.ok(JSON.parse(ev.data.mentions).includes(bob.user.id), 'posted names whom it mentions');
        await dispatch(channelsActions.fetchAllMyTeamsChannels());
        await dispatch(channelsActions.fetchAllMyChannelMembers());
        const u = unread(town);
        assert.equal(u.messages, 2);
        assert.equal(u.mentions, 1);
        assert.ok(u.showUnread);
        await dispatch(teamsActions.getMyTeamUnreads(false));
        const team = state().entities.teams.myMembers[teamId];
        assert.equal(team.mention_count, 1);
        assert.equal(team.msg_count, 2);

        // Reading the channel: the store and the server agree it is read.
        const list = await dispatch(postsActions.getPostsUnread(town));
        assert.ok(list.data.order.includes(mention.id));
        dispatch(channelsActions.markChannelAsRead(town));
        await waitFor('the view on the server', async () => {
            const m = await alice.client.doFetch(`${alice.client.getChannelsRoute()}/${town}/members/${bob.user.id}`, {method: 'get'});
            return m.mention_count === 0;
        });
        assert.equal(unread(town).mentions, 0);
        await bobWs.next('multiple_channels_viewed', (e) => e.data.channel_times[town]);

        // Marking unread from the mention again.
        const r = await dispatch(postsActions.setUnreadPost(bob.user.id, mention.id));
        assert.equal(r.error, undefined, JSON.stringify(r.error));
        assert.equal(r.data.mentionCount ?? r.data.mention_count, 1);
        assert.deepEqual(state().errors, []);
    });

    it('opens a DM the other user hears of, and its posts count as mentions for them', TEST, async () => {
        const r = await dispatch(channelsActions.createDirectChannel(bob.user.id, alice.user.id));
        assert.equal(r.error, undefined, JSON.stringify(r.error));
        const dm = r.data;
        assert.equal(dm.type, 'D');
        assert.equal(dm.name, [bob.user.id, alice.user.id].sort().join('__'));
        assert.ok(state().entities.channels.channels[dm.id], 'the DM is in the store');
        const added = await aliceWs.next('direct_added', (e) => e.broadcast.channel_id === dm.id);
        assert.equal(added.data.teammate_id, alice.user.id);
        const pref = state().entities.preferences.myPreferences[`direct_channel_show--${alice.user.id}`];
        assert.equal(pref?.value, 'true', 'the web app saved direct_channel_show');

        const sent = await dispatch(postsActions.createPost({channel_id: dm.id, message: 'lunch?', user_id: bob.user.id, create_at: 0, pending_post_id: `${bob.user.id}:${Date.now()}`}));
        assert.equal(sent.error, undefined, JSON.stringify(sent.error));
        const posted = await aliceWs.next('posted', (e) => e.broadcast.channel_id === dm.id);
        assert.equal(posted.data.channel_type, 'D');
        assert.ok(JSON.parse(posted.data.mentions).includes(alice.user.id));
        const member = await alice.client.getMyChannelMember(dm.id);
        assert.equal(member.mention_count, 1, 'every DM post is a mention');

        // The DM shows in Bob's Direct Messages category.
        await dispatch(categoryActions.fetchMyCategories(teamId));
        const byId = state().entities.channelCategories.byId;
        const dms = state().entities.channelCategories.orderByTeam[teamId].map((id) => byId[id]).find((c) => c.type === 'direct_messages');
        assert.ok(dms.channel_ids.includes(dm.id));
        assert.deepEqual(state().errors, []);
    });

    it('favourites a channel and makes a custom category', TEST, async () => {
        const fav = await dispatch(channelsActions.favoriteChannel(town));
        assert.equal(fav.error, undefined, JSON.stringify(fav.error));
        await bobWs.next('sidebar_category_updated', (e) => e.data.updatedCategories.includes(town));
        const created = await dispatch(categoryActions.createCategory(teamId, 'Projects'));
        assert.equal(created.error, undefined, JSON.stringify(created.error));
        await bobWs.next('sidebar_category_created');
        await dispatch(categoryActions.fetchMyCategories(teamId));
        const byId = state().entities.channelCategories.byId;
        const order = state().entities.channelCategories.orderByTeam[teamId].map((id) => byId[id]);
        assert.equal(order[0].display_name, 'Projects', 'a new category goes on top');
        assert.ok(order.find((c) => c.type === 'favorites').channel_ids.includes(town));
        assert.ok(!order.find((c) => c.type === 'channels').channel_ids.includes(town));
        assert.deepEqual(state().errors, []);
    });

    it('saves preferences the other sessions hear of', TEST, async () => {
        const r = await dispatch(prefsActions.savePreferences(bob.user.id, [{user_id: bob.user.id, category: 'display_settings', name: 'use_military_time', value: 'true'}]));
        assert.equal(r.error, undefined, JSON.stringify(r.error));
        await bobWs.next('preferences_changed', (e) => e.data.preferences.includes('use_military_time'));
        await dispatch(prefsActions.getMyPreferences());
        assert.equal(state().entities.preferences.myPreferences['display_settings--use_military_time'].value, 'true');
    });

    it('takes a team role given on the other node', TEST, async () => {
        await alice.client.updateTeamMemberRoles(teamId, bob.user.id, 'team_user team_admin');
        const ev = await bobWs.next('memberrole_updated');
        assert.match(JSON.parse(ev.data.member).roles, /team_admin/);
        await dispatch(teamsActions.getMyTeamMembers());
        await dispatch(rolesActions.loadRolesIfNeeded(new Set(state().entities.teams.myMembers[teamId].roles.split(' '))));
        await waitFor('the team_admin role', () => state().entities.roles.roles.team_admin);
        assert.ok(roleSelectors.haveIChannelPermission(state(), teamId, town, 'manage_team'));
        assert.deepEqual(state().errors, []);
    });
});
