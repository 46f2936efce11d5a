-- brasa.docs: loads the documentation entries of the core (docs/*.lua).
local doc = require 'brasa.doc'
for _, part in ipairs {'brasa.docs.tensor', 'brasa.docs.autograd', 'brasa.docs_plot',
                       'brasa.docs.nn_conv', 'brasa.docs.nn_pool', 'brasa.docs.nn_norm',
                       'brasa.docs.nn', 'brasa.docs.optim', 'brasa.docs.data', 'brasa.docs.train',
                       'brasa.docs.cuda', 'brasa.docs.text', 'brasa.docs.lesson',
                       'brasa.docs.amp'} do
  local ok, err = pcall(require, part)
  if not ok and not tostring(err):find('not found', 1, true) then error(err) end
end
return doc
