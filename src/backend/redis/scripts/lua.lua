if redis.call('SETBIT', KEYS[2], ARGV[1], 1) == 0 then
  local n = redis.call('INCR', KEYS[1])
  if n == 1 then
    -- The round's first answer created the counter and the bitmap.
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    redis.call('EXPIRE', KEYS[2], ARGV[3])
  end
  if n == tonumber(ARGV[2]) then
    redis.call('SET', KEYS[3], ARGV[1], 'NX', 'EX', ARGV[3])
  end
end
if redis.call('GET', KEYS[3]) == ARGV[1] then return 1 end
return 0
