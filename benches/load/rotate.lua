-- wrk script for target 7: every request carries the next token of a file (one JWT a line), so that the gateway
-- sees many distinct valid tokens. Usage: wrk ... -s rotate.lua URL -- TOKENS_FILE
-- The requests are formatted once in init(); request() only picks the next one. Each thread starts at its own offset.
local threads = 0

function setup(thread)
   thread:set("id", threads)
   threads = threads + 1
end

function init(args)
   local file = args[1] or error("rotate.lua: pass the tokens file after --")
   reqs = {}
   for line in io.lines(file) do
      if line ~= "" then
         reqs[#reqs + 1] = wrk.format("GET", wrk.path, { ["Authorization"] = "Bearer " .. line })
      end
   end
   if #reqs == 0 then error("rotate.lua: no token in " .. file) end
   local me = id or 0
   pos = (me * 7919) % #reqs
end

function request()
   pos = pos % #reqs + 1
   return reqs[pos]
end
