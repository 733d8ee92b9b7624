--[[
  Replaces a live session's state (the JSON object of its latest `PING <json>`).
  Does nothing for a session that no longer exists, so a late write can't leave orphaned state.

  KEYS[1] client  KEYS[2] meta
  ARGV[1] sessionId  ARGV[2] state JSON

  Returns 1 if stored, 0 if the session is gone
]]
local rcall = redis.call
local client, meta = KEYS[1], KEYS[2]
local session_id, state = ARGV[1], ARGV[2]
if rcall('HEXISTS', client, session_id) == 0 then return 0 end
rcall('HSET', meta, session_id, state)
return 1
