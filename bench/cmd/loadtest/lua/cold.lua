-- Clicks on /go, each for a product never asked before: the first product id is the argument, and
-- every request takes the next (one wrk thread, so one counter).
local base, next = 0, 0

init = function(args)
  base = tonumber(args[1])
end

request = function()
  next = next + 1
  return wrk.format(nil, string.format(
    "/go?u=https%%3A%%2F%%2Fwww.aliexpress.com%%2Fitem%%2F%.0f.html", base + next))
end
