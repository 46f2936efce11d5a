#!/usr/bin/python3
"""bench_text_cnn_torch.py: the PyTorch peer of scripts/text_cnn.lua.

    OMP_WAIT_POLICY=passive /usr/bin/python3 bench/bench_text_cnn_torch.py \
        --data DUMP --seed 1 --threads 2 [--epochs 10]

DUMP is the file bench/bench_text_cnn.lua writes: the fortunes split of
brasa.data.fortunes() (raw texts and 1-based labels, train and test) and
brasa's padded id matrices. This script cleans and tokenises the raw texts
itself (clean() and a Keras 2 Tokenizer / pad_sequences written here, the
semantics of brasa.text) and asserts that its matrices equal brasa's, so
both sides see exactly the same data, then trains the same recipe:

  Embedding(25000, 150, padding_idx=0)   brasa's Embedding: id 0 is a zero
                                         vector with no gradient, N(0, 1)
  Conv1d(150, 64, 3) + ReLU on the       brasa's input_channels_last
  transposed embeddings
  max over the length (GlobalMaxPool1d)
  Linear(64, 32) + ReLU, l2(0.01):       Keras's penalty 0.01 * sum(w^2) on
                                         the weight, added to the loss
  Linear(32, n) -> Softmax
  loss: Keras's categorical cross-entropy on probabilities (renormalised,
  clamped to [1e-7, 1 - 1e-7]) against one-hot rows, mean over the batch
  Adam (lr 1e-3, betas (0.9, 0.999), eps 1e-8: PyTorch's and brasa's)
  PyTorch's default initialisation everywhere (brasa's layers keep it);
  zero_grad(set_to_none=True), PyTorch's advice for speed (a little faster
  here than 1.13's default of zeroing the gradients in place)

and brasa's fit: validation_split 0.2 takes the LAST 20% of the training
rows (no shuffle before the cut); every epoch a new random order of the
rest, batches of 128 (the last one short); the training loss and accuracy
are read every batch (loss.item()); after each epoch a validation pass in
batches of 256 whose val_loss is the mean cross-entropy plus the penalty;
EarlyStopping on val_loss (min_delta 0, patience 2) with the best weights
restored at the end when the last epoch was not the best. Then the test
accuracy (argmax of the outputs against the labels).

Epoch time: the training pass plus the validation pass, as brasa's
hist.history.time. Peak memory: VmHWM of /proc/self/status (the figure
getrusage's ru_maxrss reports on Linux), read the same way on both sides.
Prints one line:

    RESULT seed=1 epochs=t1,t2,... test_acc=... best_epoch=... rss_mib=... x_check=... threads=2

Needs Debian's python3-torch: run with /usr/bin/python3. OMP_WAIT_POLICY
must be in the environment before torch is imported (the driver sets it).
"""
import argparse
import re
import time

NUM_WORDS, MAXLEN, EMBED = 25000, 200, 150

# ---------------------------------------------------------------------------
# The data: bench/bench_text_cnn.lua's dump
# ---------------------------------------------------------------------------


def read_dump(path):
    """{'classes': [...], 'train': (texts, labels), 'test': (...), 'x_train': rows, 'x_test': rows}.

    Texts stay bytes (clean() works on bytes, as brasa's Lua does)."""
    out = {}
    with open(path, 'rb') as f:
        head = f.readline().split()
        assert head == [b'brasa-text-cnn-dump', b'1'], 'not a text_cnn dump: %r' % head
        out['classes'] = f.readline().decode().split()[1:]
        for part in ('train', 'test'):
            name, n = f.readline().split()
            assert name.decode() == part
            texts, labels = [], []
            for _ in range(int(n)):
                label, size = f.readline().split()
                texts.append(f.read(int(size)))
                assert f.read(1) == b'\n'
                labels.append(int(label))
            out[part] = (texts, labels)
        for part in ('x_train', 'x_test'):
            name, n, m = f.readline().split()
            assert name.decode() == part
            out[part] = [[int(v) for v in f.readline().split()] for _ in range(int(n))]
            assert all(len(r) == int(m) for r in out[part])
    return out


# ---------------------------------------------------------------------------
# brasa.text.clean, on bytes like the Lua original
# ---------------------------------------------------------------------------

def _lower_table():
    """The two-byte UTF-8 upper-case letters brasa.text.lower maps (Latin-1,
    Latin Extended-A, Greek, Cyrillic), as {upper bytes: lower bytes}."""
    pairs = []
    pairs += [(cp, cp + 0x20) for cp in range(0xC0, 0xDF) if cp != 0xD7]
    pairs += [(cp, cp + 1) for cp in range(0x100, 0x138, 2)]
    pairs += [(0x130, 0x69)]
    pairs += [(cp, cp + 1) for cp in range(0x139, 0x148, 2)]
    pairs += [(cp, cp + 1) for cp in range(0x14A, 0x178, 2)]
    pairs += [(0x178, 0xFF)]
    pairs += [(cp, cp + 1) for cp in range(0x179, 0x17E, 2)]
    pairs += [(cp, cp + 0x20) for cp in range(0x391, 0x3AC) if cp != 0x3A2]
    pairs += [(0x386, 0x3AC), (0x388, 0x3AD), (0x389, 0x3AE), (0x38A, 0x3AF),
              (0x38C, 0x3CC), (0x38E, 0x3CD), (0x38F, 0x3CE)]
    pairs += [(cp, cp + 0x50) for cp in range(0x400, 0x410)]
    pairs += [(cp, cp + 0x20) for cp in range(0x410, 0x430)]
    table = {}
    for u, l in pairs:
        table[chr(u).encode()] = chr(l).encode()
    return table


LOWER = _lower_table()
KEEP = set(LOWER) | set(LOWER.values())
KEEP |= {chr(cp).encode() for cp in range(0xDF, 0x250) if cp != 0xF7}
KEEP |= {chr(cp).encode() for cp in range(0x3AC, 0x3CF)}
KEEP |= {chr(cp).encode() for cp in range(0x430, 0x460)}


def lower(s):
    """brasa.text.lower: ASCII, then the letters of LOWER (bytes in, bytes out)."""
    s = s.lower()                         # bytes.lower: ASCII only, as Lua's in the C locale
    return re.sub(rb'[\xC3-\xD0][\x80-\xBF]', lambda m: LOWER.get(m.group(), m.group()), s)


def clean(s):
    """brasa.text.clean: lower case; masked tokens (xx, xxxx...) out; white
    space -> ' '; ASCII symbols and digits out; non-letters beyond ASCII out;
    runs of spaces collapsed, the ends trimmed."""
    s = lower(s)
    s = re.sub(rb'(?<![A-Za-z])xx+(?![A-Za-z])', b' ', s)     # Lua: %f[%a]xx+%f[%A]
    s = re.sub(rb'[ \t\n\v\f\r]', b' ', s)                    # Lua's %s
    s = re.sub(rb'[^ a-z\x80-\xFF]', b'', s)
    s = re.sub(rb'[\x80-\xFF][\x80-\xBF]*', lambda m: m.group() if m.group() in KEEP else b'', s)
    s = re.sub(rb' +', b' ', s)
    return s.strip(b' ').decode('utf-8')


# ---------------------------------------------------------------------------
# Keras 2's Tokenizer and pad_sequences (the parts the recipe uses)
# ---------------------------------------------------------------------------

FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n\u00bf\u00a1'   # Keras's, plus the Spanish ¿ ¡ (brasa's)


def text_to_word_sequence(text, filters=FILTERS, split=' '):
    text = text.lower()
    text = text.translate(str.maketrans({c: split for c in filters}))
    return [w for w in text.split(split) if w]


class Tokenizer:
    """keras.preprocessing.text.Tokenizer(num_words) without oov_token."""

    def __init__(self, num_words=None):
        self.num_words = num_words
        self.word_counts = {}            # insertion-ordered, as Keras's OrderedDict
        self.word_index = {}

    def fit_on_texts(self, texts):
        for t in texts:
            for w in text_to_word_sequence(t):
                self.word_counts[w] = self.word_counts.get(w, 0) + 1
        ordered = sorted(self.word_counts.items(), key=lambda wc: wc[1], reverse=True)  # stable
        self.word_index = {w: i for i, (w, _) in enumerate(ordered, start=1)}

    def texts_to_sequences(self, texts):
        out = []
        for t in texts:
            seq = []
            for w in text_to_word_sequence(t):
                i = self.word_index.get(w)
                if i is not None and not (self.num_words and i >= self.num_words):
                    seq.append(i)
            out.append(seq)
        return out


def pad_sequences(seqs, maxlen):
    """Keras's defaults: padding and truncating 'pre', value 0."""
    rows = []
    for s in seqs:
        s = s[-maxlen:] if len(s) > maxlen else s
        rows.append([0] * (maxlen - len(s)) + list(s))
    return rows


def checksum(rows_list):
    """The x_check of bench/bench_text_cnn.lua: a polynomial hash of every id
    of the matrices, row by row, modulo 2^31 - 1."""
    h = 0
    for rows in rows_list:
        for r in rows:
            for v in r:
                h = (h * 31 + v + 1) % 2147483647
    return h


# ---------------------------------------------------------------------------
# The recipe
# ---------------------------------------------------------------------------


def peak_rss_mib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--epochs', type=int, default=10)
    ap.add_argument('--batch-size', type=int, default=128)
    args = ap.parse_args()

    d = read_dump(args.data)
    train_texts = [clean(s) for s in d['train'][0]]
    test_texts = [clean(s) for s in d['test'][0]]
    tok = Tokenizer(num_words=NUM_WORDS)
    tok.fit_on_texts(train_texts)
    x_train = pad_sequences(tok.texts_to_sequences(train_texts), MAXLEN)
    x_test = pad_sequences(tok.texts_to_sequences(test_texts), MAXLEN)
    for name, mine in (('x_train', x_train), ('x_test', x_test)):
        if mine != d[name]:
            bad = next(i for i, (a, b) in enumerate(zip(mine, d[name])) if a != b) if len(mine) == len(d[name]) else -1
            raise SystemExit('bench_text_cnn_torch: %s differs from brasa\'s (first differing row %d)' % (name, bad + 1))
    x_check = checksum([x_train, x_test])

    import torch
    from torch import nn
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    n_classes = len(d['classes'])
    xt = torch.tensor(x_train, dtype=torch.int64)
    yt = torch.tensor([v - 1 for v in d['train'][1]], dtype=torch.int64)
    xs = torch.tensor(x_test, dtype=torch.int64)
    ys = torch.tensor([v - 1 for v in d['test'][1]], dtype=torch.int64)
    y1h = F.one_hot(yt, n_classes).float()

    class TextCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(NUM_WORDS, EMBED, padding_idx=0)
            self.conv = nn.Conv1d(EMBED, 64, 3)
            self.fc1 = nn.Linear(64, 32)
            self.fc2 = nn.Linear(32, n_classes)

        def forward(self, x):
            h = F.relu(self.conv(self.emb(x).transpose(1, 2)))   # N x 64 x 198
            h = h.max(2).values                                  # GlobalMaxPool1d
            h = F.relu(self.fc1(h))
            return F.softmax(self.fc2(h), 1)

        def penalty(self):
            return 0.01 * self.fc1.weight.square().sum()

    def prob_loss(p, y):
        """Keras's categorical cross-entropy on probabilities, mean over rows."""
        p = (p / p.sum(1, keepdim=True)).clamp(1e-7, 1 - 1e-7)
        return -(y * p.log()).sum() / p.shape[0]

    model = TextCNN()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    n = xt.shape[0]
    n_fit = int(n * (1 - 0.2))                    # validation_split: the last 20%
    x_fit, y_fit = xt[:n_fit], y1h[:n_fit]
    x_val, y_val = xt[n_fit:], y1h[n_fit:]
    bs = args.batch_size

    def validate():
        model.eval()
        total, correct = 0.0, 0
        with torch.no_grad():
            for a in range(0, x_val.shape[0], max(bs, 256)):
                xb, yb = x_val[a:a + max(bs, 256)], y_val[a:a + max(bs, 256)]
                out = model(xb)
                total += prob_loss(out, yb).item() * xb.shape[0]
                correct += (out.argmax(1) == yb.argmax(1)).sum().item()
            loss = total / x_val.shape[0] + model.penalty().item()
        model.train()
        return loss, correct / x_val.shape[0]

    times, best, best_epoch, best_state, wait, last_epoch = [], None, None, None, 0, 0
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n_fit)
        seen, loss_sum, correct = 0, 0.0, 0
        for a in range(0, n_fit, bs):
            idx = perm[a:a + bs]
            xb, yb = x_fit[idx], y_fit[idx]
            opt.zero_grad(set_to_none=True)   # PyTorch at its best: no 15 MB memset of the embedding's grad
            out = model(xb)
            loss = prob_loss(out, yb) + model.penalty()
            lv = loss.item()
            loss.backward()
            opt.step()
            seen += xb.shape[0]
            loss_sum += lv * xb.shape[0]
            correct += (out.detach().argmax(1) == yb.argmax(1)).sum().item()
        val_loss, val_acc = validate()
        times.append(time.perf_counter() - t0)
        last_epoch = epoch
        # EarlyStopping(monitor val_loss, min_delta 0, patience 2, restore_best_weights)
        if val_loss == val_loss and (best is None or val_loss < best):
            best, best_epoch, wait = val_loss, epoch, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            wait += 1
            if wait >= 2:
                break
    if best_state is not None and best_epoch != last_epoch:
        model.load_state_dict(best_state)

    model.eval()
    with torch.no_grad():
        scores = torch.cat([model(xs[a:a + 256]) for a in range(0, xs.shape[0], 256)])
    test_acc = (scores.argmax(1) == ys).float().mean().item()
    print('RESULT seed=%d epochs=%s test_acc=%.4f best_epoch=%d rss_mib=%.1f x_check=%d threads=%d' % (
        args.seed, ','.join('%.4f' % t for t in times), test_acc, best_epoch or 0, peak_rss_mib(), x_check,
        torch.get_num_threads()))


if __name__ == '__main__':
    main()
