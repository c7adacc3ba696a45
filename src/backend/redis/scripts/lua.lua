if redis.call('SETBIT', KEYS[2], ARGV[1], 1) == 0 then
  local n = redis.call('INCR', KEYS[1])
  if n == tonumber(ARGV[2]) then
    redis.call('SET', KEYS[3], ARGV[1], 'NX')
  end
end
if redis.call('GET', KEYS[3]) == ARGV[1] then return 1 end
return 0
