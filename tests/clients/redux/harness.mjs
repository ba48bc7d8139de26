// What the redux suites share: bounded waits, the raw API, sign-up and browser-style login (and
// pointing mattermost-redux's Client4 at a node as that browser), an
// official WebSocketClient that records events, and a record of every HTTP call (none may answer
// 401 or 5xx). Importing it installs the `ws` WebSocket and the fetch recorder globally.

import assert from 'node:assert/strict';
import {randomBytes} from 'node:crypto';

import clientPkg from '@mattermost/client';
import reduxClient from 'mattermost-redux/client';
import WebSocket from 'ws';

const {WebSocketClient} = clientPkg;

globalThis.WebSocket = WebSocket;
if (typeof globalThis.CloseEvent === 'undefined') {
    globalThis.CloseEvent = class CloseEvent extends Event {
        constructor(type, init = {}) {
            super(type);
            this.code = init.code ?? 0;
            this.reason = init.reason ?? '';
        }
    };
}

export const URLS = (process.env.STARLING_URLS || '').split(/\s+/).filter(Boolean).map((u) => u.replace(/\/+$/, ''));
export const TEST = {timeout: 90_000};
export const WAIT = 15_000;
export const PASSWORD = `Starling-${randomBytes(8).toString('hex')}`;
export const unique = (prefix) => `${prefix}${randomBytes(5).toString('hex')}`;

// The client logs connection chatter to console.log: keep it for failure reports.
export const clientLog = [];
console.log = (...args) => {
    clientLog.push(args.map(String).join(' ').slice(0, 300));
    if (clientLog.length > 40) {
        clientLog.shift();
    }
};

// Every request the store (or anyone) makes, with its answer.
export const requests = [];
export const realFetch = globalThis.fetch;
globalThis.fetch = async (url, options = {}) => {
    const res = await realFetch(url, options);
    requests.push({method: (options.method || 'GET').toUpperCase(), url: String(url), status: res.status});
    return res;
};

export async function waitFor(what, cond) {
    const deadline = Date.now() + WAIT;
    for (;;) {
        const v = await cond();
        if (v) {
            return v;
        }
        if (Date.now() > deadline) {
            throw new Error(`timed out waiting for ${what}\nclient log:\n${clientLog.join('\n')}`);
        }
        await new Promise((r) => setTimeout(r, 50));
    }
}

export async function api(base, method, path, {token, body, cookies} = {}) {
    const headers = {'Content-Type': 'application/json', 'X-Requested-With': 'XMLHttpRequest'};
    if (token) {
        headers.Authorization = `Bearer ${token}`;
    }
    if (cookies) {
        headers.Cookie = cookies;
    }
    const res = await realFetch(`${base}/api/v4${path}`, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
    const text = await res.text();
    let json = null;
    try {
        json = JSON.parse(text);
    } catch {
        // not JSON
    }
    return {status: res.status, body: json, headers: res.headers};
}

export async function signUp(base, prefix) {
    const username = unique(prefix);
    const r = await api(base, 'POST', '/users', {body: {email: `${username}@example.com`, username, password: PASSWORD}});
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
}

/** Log in as a browser would: returns the cookies Starling set. */
export async function browserLogin(base, username) {
    const r = await api(base, 'POST', '/users/login', {body: {login_id: username, password: PASSWORD}});
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const jar = {};
    for (const c of r.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const i = pair.indexOf('=');
        jar[pair.slice(0, i)] = pair.slice(i + 1);
    }
    for (const name of ['MMAUTHTOKEN', 'MMUSERID', 'MMCSRF']) {
        assert.ok(jar[name], `login sets ${name}`);
    }
    return {jar, token: r.headers.get('Token'), user: r.body};
}

/** Point mattermost-redux's Client4 at `base` as the browser of a `browserLogin`: cookies and
 * X-CSRF-Token, no Authorization header. */
export function useAsBrowser(base, jar) {
    const {Client4} = reduxClient;
    Client4.setUrl(base);
    Client4.setAuthHeader = false;
    Client4.setHeader('Cookie', `MMAUTHTOKEN=${jar.MMAUTHTOKEN}; MMUSERID=${jar.MMUSERID}; MMCSRF=${jar.MMCSRF}`);
    Client4.setCSRF(jar.MMCSRF);
}

/** An official WebSocketClient on `base`, authenticated by the cookie alone, recording events. */
export function socket(base, token) {
    const events = [];
    const client = new WebSocketClient({
        minWebSocketRetryTime: 1000,
        reconnectJitterRange: 100,
        newWebSocketFn: (url) => new WebSocket(url, {headers: {Cookie: `MMAUTHTOKEN=${token}`}}),
    });
    client.addMessageListener((msg) => events.push(msg));
    const url = `${base.replace(/^http/, 'ws')}/api/v4/websocket`;
    client.initialize(url, undefined, true);
    return {
        client,
        events,
        async next(event, match = () => true) {
            return waitFor(`a ${event} event`, () => events.find((e) => e.event === event && match(e)));
        },
    };
}
