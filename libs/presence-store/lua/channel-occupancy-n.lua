--[[
  The occupancy of many channels in one call (POST /v1/channels/occupancy), where one script may
  take keys of many slots: a standalone Redis or a sentinel's master. A cluster is asked channel by
  channel instead (ChannelStore.occupancies). Reads only; O(1) per channel.

  KEYS: per channel, its clients ZSET and its sessions HASH, in pairs (the number of KEYS is given
  with each call: the file's `-n`)

  Returns { clients, sessions, clients, sessions, ... } in the order of the pairs.
]]
local reply = {}
for i = 1, #KEYS, 2 do
  reply[#reply + 1] = redis.call('ZCARD', KEYS[i])
  reply[#reply + 1] = redis.call('HLEN', KEYS[i + 1])
end
return reply
