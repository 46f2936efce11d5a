-- brasa.docs.lesson: help entries of brasa.lesson and brasa.lessons (brasa.doc).
--
-- Loaded with the other documentation (lua/brasa/docs.lua); init.lua's
-- bind_all binds the two functions to these entries by name. The examples
-- run in tests/lua/doc_spec.lua (they are core entries: 'brasa.NAME').

local doc = require 'brasa.doc'

doc.add{'brasa.lesson', 'brasa.lesson(id, opts?) -> result',
  'Runs a step-by-step lesson: each step\'s explanation, then its code, run on Enter in the REPL\'s globals.',
  text = [=[
id: a lesson's id (brasa.lessons() lists them: 'text_cnn', the course's
text CNN; 'tensors_and_autograd'), the path of a lesson file, or a lesson
table. From the shell: `brasa --lesson text_cnn`, which stays at the
prompt afterwards with every variable the lesson made.

At the lesson's prompt: Enter runs the step shown, and once it has run goes
on to the next; n (next, s) skips, b (back, v) goes back, a (again, r) runs
the step again, g N goes to step N, l lists the steps, c shows the code
again, ? helps, q (quit, salir) or Ctrl-D leaves. Any other line runs as
Lua with the lesson's variables (x_train.shape, ?nn.Conv1d), so a step that
failed can be mended and run again with a.

opts: lang ('es' or 'en'; default BRASA_LANG, else the locale's language
when it is es or en, else Spanish, the course's language), step (the step
to start at: brasa.lesson('text_cnn', {step = 5}) after quitting at step
5), auto (run every step without stopping; stops at the first failure),
fast (the lesson's quick mode, for CI: a subset of the data, one epoch),
env (the table steps run in: by default the globals inside the brasa
executable, else a fresh table over _G with brasa, nn, optim and plot),
input (function(prompt) -> a line, or nil to quit) and output
(function(text)) in place of the terminal, color, width.

The result prints as one line ("lesson text_cnn: 14 of 14 steps run");
fields: id, lang, steps (how many), ran[i] (true when step i's last run
succeeded), failed[i] (its error), completed (all ran), quit, env, names
(the variables the steps made).

A lesson is a plain Lua file in tutorials/ (<id>.lua, or NN_<id>.lua to
set the order) returning {title = {es =, en =}, intro =, steps = {{title
=, text =, code =, check = function(env) end}, ...}, fast = {NAME = value
or function(old) -> new}}. Every text and code may be a string or one per
language. check asserts what the step did (tests rely on it). In fast mode
the global FAST is true, and each name of fast that a step assigns is then
replaced (EPOCHS = 1; train = a subset). BRASA_LESSON_PATH (directories
separated by ':') is searched before tutorials/.]=],
  example = [=[
local r = brasa.lesson({title = 'demo', steps = {
  {text = 'Two and two.', code = 'four = 2 + 2',
   check = function(env) assert(env.four == 4) end},
}}, {auto = true, env = {}, output = function() end})
print(r.completed, r.env.four)  --> true 4]=],
  see = {'brasa.lessons'},
}

doc.add{'brasa.lessons', 'brasa.lessons(opts?) -> list',
  'The lessons brasa.lesson can run: a list of {id, title, steps, path} that prints as a table.',
  text = [=[
Found in the directories of BRASA_LESSON_PATH, then in tutorials/ of the
source tree (or share/brasa/tutorials when installed). opts.lang picks the
titles' language (as brasa.lesson). brasa.lesson() with no id returns the
same list.]=],
  example = [=[
local list = brasa.lessons({lang = 'en'})
for _, l in ipairs(list) do if l.id == 'text_cnn' then print(l.id, l.steps) end end  --> text_cnn 14]=],
  see = {'brasa.lesson'},
}

return {}
