-- The client's last session is gone: take it out of the online set, remember when it was last
-- seen and write the offline event. Returns the event's stream id.
local function go_offline(k, client_id, session_id, node, reason, at, maxlen, channel, shard)
  redis.call('ZREM', k.online, client_id)
  redis.call('HDEL', k.since, client_id)
  redis.call('ZADD', k.lastseen, at, client_id)
  return emit_event(k.events, maxlen, channel, shard, {
    type = 'offline', clientId = client_id, sessionId = session_id, node = node, reason = reason, at = at })
end
