import { describe, expect, it } from 'vitest';
import { ScriptReplyError } from './errors.js';
import {
  addSessionReply,
  channelLeaveReply,
  channelMembersReply,
  channelOccupancyReply,
  channelWriteReply,
  trackChannelReply,
  nodeBeatReply,
  queryReply,
  readClientReply,
  refreshReply,
  removeSessionsReply,
  setStateReply,
  sweepReply,
} from './script-replies.js';

/** The error a reply check throws, to look at its message. */
function rejection(check: () => unknown): ScriptReplyError {
  try {
    check();
  } catch (error) {
    if (error instanceof ScriptReplyError) return error;
    throw error;
  }
  throw new Error('the reply was accepted');
}

describe('script replies', () => {
  it('reads the shapes the scripts reply with', () => {
    expect(addSessionReply([1000, '1000-0', null])).toEqual({ now: 1000, eventId: '1000-0', rejected: null });
    expect(addSessionReply([1000, null, 'too_many_sessions'])).toEqual({ now: 1000, eventId: null, rejected: 'too_many_sessions' });
    expect(removeSessionsReply([5, '5-0', 1, null, 0], 2)).toEqual({
      now: 5,
      ended: [
        { eventId: '5-0', existed: true },
        { eventId: null, existed: false },
      ],
    });
    expect(sweepReply([9, 2, 1, 0, -1, 0])).toEqual({ now: 9, removed: 2, offline: 1, more: false, nextDeadline: null, late: false });
    expect(sweepReply([9, 0, 0, 1, 12, 1])).toMatchObject({ more: true, nextDeadline: 12, late: true });
    expect(refreshReply([7, 2, 3], 3)).toEqual({ now: 7, missing: [1, 2] });
    expect(setStateReply(1)).toBe(true);
    expect(readClientReply([7, '3', null, 's1', '{"node":"n"}', '9', null])).toEqual({
      now: 7,
      onlineSince: 3,
      lastSeenAt: null,
      sessions: [{ sessionId: 's1', record: '{"node":"n"}', deadline: 9, stateJson: null }],
    });
    expect(queryReply([7, 1, 0, null, '4'], 2)).toEqual({ now: 7, online: [true, false], lastSeenAt: [null, 4] });
    expect(nodeBeatReply(7)).toBe(7);
  });

  it('refuses a reply of another shape, naming the script, instead of reading NaN or a wrong index', () => {
    expect(rejection(() => sweepReply([9, 2, 1, 0, -1])).message).toBe('script sweep-6: replied [9,2,1,0,-1], expected six integers');
    expect(rejection(() => sweepReply([9, 2, 1, 0, '12', 0])).message).toBe(
      'script sweep-6: the earliest deadline is "12", expected an integer',
    );
    expect(rejection(() => refreshReply([7, 4], 3)).message).toBe('script refresh-1: missing index 4 is outside 1..3');
    expect(rejection(() => removeSessionsReply([5, '5-0', 1], 2)).script).toBe('remove-sessions-6');
    expect(rejection(() => addSessionReply([1000, null, 'over_quota'])).message).toContain('add-session-7');
    expect(rejection(() => readClientReply([7, null, null, 's1'])).script).toBe('read-client-5');
    expect(rejection(() => readClientReply([7, 'soon', null])).message).toContain('online since is "soon"');
    expect(rejection(() => queryReply([7, 1], 2)).script).toBe('query-2');
    expect(rejection(() => setStateReply('OK')).script).toBe('set-state-2');
    expect(rejection(() => nodeBeatReply(null)).script).toBe('node-beat-2');
  });
});

describe('channel script replies', () => {
  it('reads well-formed replies', () => {
    expect(trackChannelReply(['too_many_channels', 100])).toEqual({ status: 'too_many_channels', channels: 100 });
    expect(channelWriteReply('channel-join-6', ['ok', 'ended'], ['ok', 2, 3, '1-0'])).toEqual({
      status: 'ok',
      clients: 2,
      sessions: 3,
      eventId: '1-0',
    });
    expect(channelLeaveReply([1, 1, 1, null, 0, null], 2)).toEqual({
      clients: 1,
      sessions: 1,
      left: [
        { existed: true, eventId: null },
        { existed: false, eventId: null },
      ],
    });
    expect(channelMembersReply([2, 3, 0, 'bob', 'alice|s1', '{}', 'alice|s2', '{}', 'bob|s3', '{}'])).toMatchObject({
      clients: 2,
      sessions: 3,
      more: false,
      lastClientId: 'bob',
      members: [{ clientId: 'alice', sessions: [{ sessionId: 's1' }, { sessionId: 's2' }] }, { clientId: 'bob' }],
    });
    expect(channelMembersReply([0, 0, 0, null])).toMatchObject({ lastClientId: null, members: [] });
  });

  it('rejects replies of another shape, naming the script', () => {
    expect(rejection(() => trackChannelReply(['maybe', 1])).message).toMatch(/^script track-channel-1: status "maybe"/);
    expect(rejection(() => channelWriteReply('channel-set-4', ['ok', 'not_joined'], ['ended', 0, 0, null])).script).toBe('channel-set-4');
    expect(rejection(() => channelLeaveReply([1, 1, 1, null], 2)).script).toBe('channel-leave-6');
    expect(rejection(() => channelMembersReply([1, 1, 0, 'alice', 'alice|s1'])).script).toBe('channel-members-3');
    expect(rejection(() => channelMembersReply([1, 1, 0, 'alice', 'no-bar', '{}'])).message).toMatch(/not <clientId>\|<sessionId>/);
    expect(rejection(() => channelOccupancyReply([1, 2, 3])).script).toBe('channel-occupancy-n');
  });

  it('reads channel-occupancy-n as a pair per channel', () => {
    expect(channelOccupancyReply([2, 3, 0, 0])).toEqual([
      { clients: 2, sessions: 3 },
      { clients: 0, sessions: 0 },
    ]);
  });
});
