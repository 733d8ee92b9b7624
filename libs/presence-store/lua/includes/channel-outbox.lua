-- Channel presence across slots (docs/data-model.md, "Channels"): a session's joined channels are
-- listed in its record (`channels`), in its shard; their member keys live in each channel's slot.
-- When the session is gone for good, the script that removes its record appends one outbox entry
-- here, in the same atomic step; the sweeper's channel processor applies the leaves later with
-- idempotent per-channel scripts (channel-leave-6) and then deletes the entry.
--   record: the session's decoded record. not_before: ms, Redis time, before which the processor
--   leaves the entry alone (a lingering session a reconnect dropped keeps its channels until its
--   grace would have ended, so that a rejoin in time makes no leave/join pair); 0 for "at once".
local outbox_rung = false
local function outbox_channels(outbox, session_id, client_id, record, reason, at, not_before)
  local channels = record.channels
  if not outbox or not channels or #channels == 0 then return end
  redis.call('XADD', outbox, '*', 'session', session_id, 'client', client_id, 'node', record.node, 'reason', reason,
    'at', string.format('%d', at), 'notBefore', string.format('%d', not_before), 'channels', cjson.encode(channels))
  -- A doorbell for the processor, on the pub/sub channel named like the stream: it drains at once
  -- instead of polling every shard (the stream is the truth; a lost message waits for the slow poll).
  -- Once per script call: a sweep that ends a dead node's sessions rings once, not once a session.
  if not outbox_rung then
    redis.call('PUBLISH', outbox, '')
    outbox_rung = true
  end
end
