-- brasa.flags: command-line flags for scripts.
local flags = require 'brasa.flags'

describe('flags.parse', function()
  local defaults = {epochs = 5, n_train = 60000, out = '.', plot = true, fast = false}

  it('keeps the defaults without arguments and does not change them', function()
    local opts = flags.parse({}, defaults)
    assert.are.same(defaults, opts)
    opts.epochs = 1
    assert.are.equal(5, defaults.epochs)
  end)

  it('reads numbers, strings and switches, dashes as underscores', function()
    local opts = flags.parse({'--epochs', '3', '--n-train', '2e3', '--out', '/tmp/x', '--no-plot', '--fast'},
                             defaults)
    assert.are.same({epochs = 3, n_train = 2000, out = '/tmp/x', plot = false, fast = true}, opts)
  end)

  it('raises on unknown flags, bad numbers and missing values, listing the flags', function()
    local ok, err = pcall(flags.parse, {'--epoch', '3'}, defaults)
    assert.is_false(ok)
    assert.truthy(err:find('unknown flag --epoch', 1, true), err)
    assert.truthy(err:find('--[no-]plot', 1, true), err)
    ok, err = pcall(flags.parse, {'--epochs', 'many'}, defaults)
    assert.is_false(ok)
    assert.truthy(err:find('--epochs needs a number, got many', 1, true), err)
    ok, err = pcall(flags.parse, {'--out'}, defaults)
    assert.is_false(ok)
    assert.truthy(err:find('--out needs a value', 1, true), err)
    ok, err = pcall(flags.parse, {'epochs'}, defaults)
    assert.is_false(ok)
    assert.truthy(err:find('unknown argument epochs', 1, true), err)
  end)
end)
