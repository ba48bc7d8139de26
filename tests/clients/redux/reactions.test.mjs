// Reactions, pinned and saved posts, and custom emoji through the web app's mattermost-redux
// store, on two nodes of a cluster (tests/clients/run starts them with EnableCustomEmoji on).
// Bob's store is on node 2, as a browser (cookies and X-CSRF-Token); Alice works on node 1 with
// her own Client4. Assertions are on Bob's store: reactions and custom emoji taken from
// `post.metadata`, the pinned and saved lists, and the emoji image served by his node.

import assert from 'node:assert/strict';
import {after, before, describe, it} from 'node:test';

import clientPkg from '@mattermost/client';
import reduxClient from 'mattermost-redux/client';
import storePkg from 'mattermost-redux/store';
import usersActions from 'mattermost-redux/actions/users';
import postsActions from 'mattermost-redux/actions/posts';
import searchActions from 'mattermost-redux/actions/search';
import emojiActions from 'mattermost-redux/actions/emojis';
import generalActions from 'mattermost-redux/actions/general';

import {TEST, URLS, browserLogin, requests, signUp, socket, unique, waitFor, useAsBrowser} from './harness.mjs';

const {Client4: Client4Class} = clientPkg;
const {Client4} = reduxClient;
const configureStore = storePkg.default;

/** A PNG header of `w` by `h` pixels: the server checks the header, not the pixels. */
function png(w, h) {
    const b = Buffer.alloc(33);
    Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex').copy(b, 0);
    b.writeUInt32BE(w, 16);
    b.writeUInt32BE(h, 20);
    b[24] = 8;
    b[25] = 6;
    return b;
}

describe('reactions, pins, saved posts and custom emoji through mattermost-redux on two nodes', {concurrency: false}, () => {
    let node1;
    let node2;
    let alice;
    let bob;
    let bobWs;
    let store;
    let town;
    let post;

    const state = () => store.getState();
    const dispatch = (action) => store.dispatch(action);

    before(async () => {
        assert.equal(URLS.length, 2, 'STARLING_URLS names two nodes of one cluster');
        [node1, node2] = URLS;
        await signUp(node1, 'admin'); // the first user is system admin; the others are not
        const a = await signUp(node1, 'alice');
        const b = await signUp(node2, 'bob');
        const aliceLogin = await browserLogin(node1, a.username);
        alice = {user: a, client: new Client4Class()};
        alice.client.setUrl(node1);
        alice.client.setToken(aliceLogin.token);
        const team = await alice.client.createTeam({name: unique('t'), display_name: 'Reacts', type: 'O'});
        await alice.client.addToTeam(team.id, b.id);
        town = (await alice.client.getChannelByName(team.id, 'town-square')).id;

        const bobLogin = await browserLogin(node2, b.username);
        bob = {user: b, jar: bobLogin.jar};
        useAsBrowser(node2, bob.jar);
        store = configureStore({});
        await dispatch(generalActions.getClientConfig());
        assert.equal(state().entities.general.config.EnableCustomEmoji, 'true');
        const me = await dispatch(usersActions.loadMe());
        assert.equal(me.error, undefined, JSON.stringify(me.error));
        bobWs = socket(node2, bobLogin.token);
        await bobWs.next('hello');
        post = await alice.client.createPost({channel_id: town, message: 'ship it :starling_ship:'});
    });

    after(() => {
        bobWs?.client.close();
        const bad = requests.filter((r) => r.status === 401 || r.status >= 500);
        assert.deepEqual(bad, [], 'no call answered 401 or 5xx');
    });

    it('sees a custom emoji made on the other node, and its image from its own node', TEST, async () => {
        const emoji = await alice.client.createCustomEmoji({name: 'starling_ship', creator_id: alice.user.id}, new Blob([png(32, 32)], {type: 'image/png'}));
        const ev = await bobWs.next('emoji_added');
        assert.equal(JSON.parse(ev.data.emoji).id, emoji.id);
        const r = await dispatch(emojiActions.getCustomEmojisByName(['starling_ship', 'smile']));
        assert.equal(r.error, undefined, JSON.stringify(r.error));
        assert.equal(state().entities.emojis.customEmoji[emoji.id]?.name, 'starling_ship');
        const img = await fetch(Client4.getEmojiRoute(emoji.id) + '/image', {headers: {Cookie: `MMAUTHTOKEN=${bob.jar.MMAUTHTOKEN}`}});
        assert.equal(img.status, 200);
        assert.equal(img.headers.get('content-type'), 'image/png');
        const auto = await dispatch(emojiActions.autocompleteCustomEmojis('starling'));
        assert.equal(auto.error, undefined, JSON.stringify(auto.error));
        assert.deepEqual(state().errors, []);
    });

    it('reacts, and reads the other user\'s reactions from post metadata', TEST, async () => {
        await alice.client.addReaction(alice.user.id, post.id, 'starling_ship');
        const ev = await bobWs.next('reaction_added', (e) => JSON.parse(e.data.reaction).post_id === post.id);
        assert.equal(ev.broadcast.channel_id, town);
        const r = await dispatch(postsActions.addReaction(post.id, '+1'));
        assert.equal(r.error, undefined, JSON.stringify(r.error));

        // A fresh load: the store takes reactions and custom emoji from metadata only.
        const list = await dispatch(postsActions.getPosts(town));
        assert.equal(list.error, undefined, JSON.stringify(list.error));
        const reactions = state().entities.posts.reactions[post.id];
        assert.ok(reactions[`${alice.user.id}-starling_ship`], JSON.stringify(reactions));
        assert.ok(reactions[`${bob.user.id}-+1`]);
        const custom = Object.values(state().entities.emojis.customEmoji).map((e) => e.name);
        assert.ok(custom.includes('starling_ship'));
        assert.equal(state().entities.posts.posts[post.id].has_reactions, true);

        const removed = await dispatch(postsActions.removeReaction(post.id, '+1'));
        assert.equal(removed.error, undefined, JSON.stringify(removed.error));
        await bobWs.next('reaction_removed');
        const left = await alice.client.getReactionsForPost(post.id);
        assert.deepEqual(left.map((x) => x.emoji_name), ['starling_ship']);
        assert.deepEqual(state().errors, []);
    });

    it('pins a post the other node lists, and saves one for later', TEST, async () => {
        const r = await dispatch(postsActions.pinPost(post.id));
        assert.equal(r.error, undefined, JSON.stringify(r.error));
        const ev = await bobWs.next('post_edited', (e) => JSON.parse(e.data.post).id === post.id);
        assert.equal(JSON.parse(ev.data.post).is_pinned, true);
        const pinned = await alice.client.getPinnedPosts(town);
        assert.deepEqual(pinned.order, [post.id]);
        const stats = await alice.client.getChannelStats(town);
        assert.equal(stats.pinnedpost_count, 1);
        const mine = await dispatch(searchActions.getPinnedPosts(town));
        assert.equal(mine.error, undefined, JSON.stringify(mine.error));
        assert.equal(state().entities.posts.posts[post.id].is_pinned, true);

        const saved = await dispatch(postsActions.flagPost(post.id));
        assert.equal(saved.error, undefined, JSON.stringify(saved.error));
        // The store saves preferences optimistically, the request in the background.
        await waitFor('the saved post on the server', async () => (await Client4.getFlaggedPosts(bob.user.id)).order.length === 1);
        const flagged = await dispatch(searchActions.getFlaggedPosts());
        assert.equal(flagged.error, undefined, JSON.stringify(flagged.error));
        assert.deepEqual(state().entities.search.flagged, [post.id]);
        await dispatch(postsActions.unflagPost(post.id));
        await waitFor('the unsaved post gone from the list', async () => {
            const again = await Client4.getFlaggedPosts(bob.user.id);
            return again.order.length === 0;
        });
        const unpin = await dispatch(postsActions.unpinPost(post.id));
        assert.equal(unpin.error, undefined, JSON.stringify(unpin.error));
        assert.deepEqual((await alice.client.getPinnedPosts(town)).order, []);
        assert.deepEqual(state().errors, []);
    });
});
