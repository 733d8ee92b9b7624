--- @include "emit-event"

-- The client's last session is gone: take it out of the online set, remember when it was last
-- seen and write the offline event. Returns the event's stream id.
--   deferred (optional): see end_session; the set writes then wait for flush_deferred.
local function go_offline(k, client_id, session_id, node, reason, at, maxlen, channel, shard, deferred)
  if deferred then
    deferred.offline[#deferred.offline + 1] = client_id
    deferred.lastseen[#deferred.lastseen + 1] = at
    deferred.lastseen[#deferred.lastseen + 1] = client_id
  else
    redis.call('ZREM', k.online, client_id)
    redis.call('HDEL', k.since, client_id)
    redis.call('ZADD', k.lastseen, at, client_id)
  end
  return emit_event(k.events, maxlen, channel, shard, {
    type = 'offline', clientId = client_id, sessionId = session_id, node = node, reason = reason, at = at })
end
