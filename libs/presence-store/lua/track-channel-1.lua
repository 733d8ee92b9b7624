--[[
  The session side of JOIN and LEAVE, in the session's shard: adds a channel to (or removes it from)
  the list in the session's record, which is what its end puts in the channel outbox. JOIN runs this
  first and the channel's script (channel-join-6) second, so a channel a session is in is always
  listed here (a crash between the two leaves a listed channel the session is not in: its leave is
  then a no-op). LEAVE runs channel-leave-6 first and this second, for the same reason.

  KEYS[1] client  HASH  sessionId -> record JSON (its `channels` array is what this script edits)
  ARGV[1] sessionId  ARGV[2] channel  ARGV[3] 'join' or 'leave'
  ARGV[4] most channels per session (0 = no limit)

  Returns { status, channels listed after the call }
  status: 'ok'; 'gone' (no live session: unknown, or ended and lingering in its grace; nothing
  written); 'too_many_channels' (a join over the limit; nothing written)
]]
local rcall = redis.call
local client = KEYS[1]
local session_id, channel, op, max_channels = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])

local raw = rcall('HGET', client, session_id)
if not raw then return { 'gone', 0 } end
local record = cjson.decode(raw)
if record.endedAt then return { 'gone', 0 } end
local channels = record.channels or {}
local at = nil
for i = 1, #channels do
  if channels[i] == channel then at = i break end
end
if op == 'join' then
  if at then return { 'ok', #channels } end
  if max_channels > 0 and #channels >= max_channels then return { 'too_many_channels', #channels } end
  channels[#channels + 1] = channel
else
  if not at then return { 'ok', #channels } end
  table.remove(channels, at)
end
record.channels = channels
-- cjson writes an empty table as {}: drop the field rather than store an object where a list belongs.
if #channels == 0 then record.channels = nil end
rcall('HSET', client, session_id, cjson.encode(record))
return { 'ok', #channels }
