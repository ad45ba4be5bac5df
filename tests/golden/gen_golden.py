#!/usr/bin/python3
"""Generate lstmc's golden files: small AWD-LSTM-style models evaluated by PyTorch.

What it makes (all under tests/golden/, next to this script), one folder per model:

    <name>/model.lstm             the lstmc model spec (with training-only dropouts, which
                                  inference must ignore)
    <name>/weights.safetensors    float32 weights, PyTorch names (encoder.weight,
                                  rnns.{l}.weight_ih_l0, ..., decoder.weight (untied only),
                                  decoder.bias); metadata "lstmc.vocab" for chars/words vocabularies
    <name>/text.txt               the evaluation text (UTF-8, written byte-exactly)
    <name>/expected.safetensors   logprobs F64 [N-1], bpc F64 [1], tokens I32 [N],
                                  full_logprobs F64 [8, V], bpc_f32 F64 [1]
    bytes_tied2/weights_awd.safetensors
                                  the same weights under AWD-LSTM checkpoint names
                                  (rnns.{l}.module.weight_ih_l0, ...weight_hh_l0_raw, ...)

The expected values are computed in float64 from the stored float32 weights (the float32 model
is upcast with .double()), so they are an exact function of the file contents; bpc_f32 is
PyTorch's own float32 result, for information only.

Semantics: embedding -> stack of single-layer nn.LSTMs (gate order i, f, g, o) -> linear decoder
(tied: decoder weight = encoder.weight) -> log_softmax.  The whole text is one stream, batch 1,
zero initial state carried across all steps; input token[t], target token[t+1], so N tokens give
N-1 log-probabilities; BPC = mean(-log p) / ln 2.

After writing, the script re-reads every safetensors file with its own small reader, checks the
header and offsets, and recomputes the BPC with a hand-written float64 LSTM loop (no nn.LSTM),
asserting agreement with nn.LSTM to 1e-10.

Rerun (deterministic; Debian's PyTorch, CPU, no pip packages needed):

    /usr/bin/python3 tests/golden/gen_golden.py
"""

import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
N_FULL = 8  # rows of full log-softmax recorded

# ----------------------------------------------------------------------------------------------
# Texts (written for this test; the chars/words vocabularies are built from these same texts)

TEXT_BYTES = (
    "The lighthouse keeper woke before dawn, as he always did, and climbed the spiral stairs.\n"
    "Outside, the sea was grey and restless; gulls argued over a crate of fish.\n"
    "\"Another storm,\" he muttered, wiping the glass. \"Third one this week!\"\n"
    "He had kept the lamp burning for thirty-one years (and eleven days, if anyone asked).\n"
    "His daughter wrote from the city: the caf\u00e9 was busy, the rent was high, and she missed\n"
    "the smell of salt. He read her letter twice, folded it, and put it in his coat.\n"
    "At noon the wind dropped. By evening the water lay flat as a plate -- na\u00efve calm, he\n"
    "thought, before the next blow. He lit the lamp at 18:42 and watched the beam turn.\n"
)

TEXT_CHARS = (
    "Le caf\u00e9 au coin de la rue ouvre \u00e0 sept heures. M\u00fcller arrive le premier \u2014 "
    "toujours.\n"
    "He orders black coffee, reads the paper, and says \u00fcber-nothing to anyone.\n"
    "The waiter, Jos\u00e9, knows the routine: one cup, one croissant, one nod.\n"
    "On Tuesdays a student sits by the window and practises the character \u6c34 (water),\n"
    "drawing it again and again until the strokes flow like rain on glass.\n"
    "Nobody asks why. The caf\u00e9 is quiet, the light is soft \u2014 and the city waits.\n"
    "By nine the room is full; by ten, empty again.\n"
)

TEXT_WORDS = (
    "the cat sat on the mat and the dog sat on the rug\n"
    "a bird flew over the house and the cat watched the bird\n"
    "the dog did not care about the bird or the cat\n"
    "in the morning the sun came up over the hill and the house was warm\n"
    "the cat slept in the sun and the dog slept by the door\n"
    "at night the bird came back to the tree near the house\n"
    "and the cat\tand the dog  and the bird were all quiet\n"
    "when the rain came the cat ran into the house and the dog ran after the cat\n"
    "the bird sat in the tree and did not move until the rain was over\n"
    "then the sun came out again and the house and the hill were warm\n"
    "the end\n"
)

# ----------------------------------------------------------------------------------------------
# Model configurations

MODELS = [
    dict(
        name="bytes_tied2", seed=1001, vocab="bytes", embed=32, hidden=[48, 32], tied=True,
        lstm_scale=[6.0, 5.0], text=TEXT_BYTES,
        spec="""# golden model: byte-level, 2 LSTM layers (48, 32), tied decoder
model bytes_tied2 {
    vocab bytes;
    embed 32 { dropout 0.1; }
    dropout 0.2;
    lstm 48 { weight_drop 0.5; }
    dropout 0.2;
    lstm 32 { weight_drop 0.5; }
    dropout 0.1;
    decoder tied;
}
"""),
    dict(
        name="chars_untied3", seed=2002, vocab="chars", embed=24, hidden=[40, 40, 16], tied=False,
        lstm_scale=[6.0, 2.5, 8.0], text=TEXT_CHARS,
        spec="""# golden model: character-level (UTF-8 code points), 3 LSTM layers (40, 40, 16), untied decoder
model chars_untied3 {
    vocab chars;
    embed 24 { dropout 0.05; }
    dropout 0.1;
    lstm 40 { weight_drop 0.3; }
    dropout 0.25;
    lstm 40 { weight_drop 0.3; }
    dropout 0.25;
    lstm 16 { weight_drop 0.3; }
    dropout 0.1;
    decoder untied;
}
"""),
    dict(
        name="words_untied1", seed=3003, vocab="words", embed=16, hidden=[20], tied=False,
        lstm_scale=[5.0], text=TEXT_WORDS,
        spec="""# golden model: word-level (<eos> per newline), 1 LSTM layer (20), untied decoder
model words_untied1 {
    vocab words;
    embed 16 { dropout 0.1; }
    dropout 0.4;
    lstm 20 { weight_drop 0.5; }
    dropout 0.4;
    decoder untied;
}
"""),
]

# ----------------------------------------------------------------------------------------------
# Tokenizers / vocabularies


def word_tokens(text):
    """Split on spaces/tabs (runs collapse); each newline becomes '<eos>'."""
    toks = []
    for i, line in enumerate(text.split("\n")):
        if i > 0:
            toks.append("<eos>")
        toks.extend(w for w in line.replace("\t", " ").split(" ") if w)
    return toks


def build_vocab(kind, text):
    """Returns (list of token strings or None for bytes, token id list)."""
    if kind == "bytes":
        return None, list(text.encode("utf-8"))
    if kind == "chars":
        vocab = sorted(set(text))  # Python str order == code point order
        index = {c: i for i, c in enumerate(vocab)}
        return vocab, [index[c] for c in text]
    if kind == "words":
        toks = word_tokens(text)
        freq = {}
        for t in toks:
            freq[t] = freq.get(t, 0) + 1
        vocab = sorted(freq, key=lambda t: (-freq[t], t.encode("utf-8")))
        index = {t: i for i, t in enumerate(vocab)}
        return vocab, [index[t] for t in toks]
    raise ValueError(kind)


# ----------------------------------------------------------------------------------------------
# Model


class LM(nn.Module):
    def __init__(self, V, E, hidden, tied):
        super().__init__()
        self.encoder = nn.Embedding(V, E)
        sizes = [E] + list(hidden)
        self.rnns = nn.ModuleList(nn.LSTM(sizes[l], sizes[l + 1]) for l in range(len(hidden)))
        self.tied = tied
        if tied:
            assert hidden[-1] == E
        else:
            self.decoder_weight = nn.Parameter(torch.empty(V, hidden[-1]))
        self.decoder_bias = nn.Parameter(torch.empty(V))

    def forward(self, tokens):
        x = self.encoder(tokens).unsqueeze(1)  # [T, 1, E]
        for rnn in self.rnns:
            x, _ = rnn(x)  # zero initial state, carried across the whole stream
        x = x.squeeze(1)
        w = self.encoder.weight if self.tied else self.decoder_weight
        return F.log_softmax(F.linear(x, w, self.decoder_bias), dim=-1)  # [T, V]


def init_model(cfg, V):
    torch.manual_seed(cfg["seed"])
    m = LM(V, cfg["embed"], cfg["hidden"], cfg["tied"])
    with torch.no_grad():
        m.encoder.weight.uniform_(-0.5, 0.5)
        for rnn, s in zip(m.rnns, cfg["lstm_scale"]):
            # nn.LSTM's default init is uniform(-1/sqrt(H), 1/sqrt(H)). With inputs this small that
            # keeps every gate near-linear (no |pre-activation| > 3 at all at scale 2-3), so the layers
            # are scaled by 2.5-8: a few to ~25% of gate pre-activations then exceed |z| > 3.
            for p in rnn.parameters():
                p.mul_(s)
        if not cfg["tied"]:
            b = 1.0 / math.sqrt(cfg["hidden"][-1])
            m.decoder_weight.uniform_(-b, b)
        m.decoder_bias.normal_(0.0, 0.5)
    return m


def state_tensors(m, awd=False):
    """Ordered (name, float32 tensor) list in lstmc's (or AWD-LSTM's) naming."""
    out = [("encoder.weight", m.encoder.weight)]
    for l, rnn in enumerate(m.rnns):
        if awd:
            out += [(f"rnns.{l}.module.weight_ih_l0", rnn.weight_ih_l0),
                    (f"rnns.{l}.module.weight_hh_l0_raw", rnn.weight_hh_l0),
                    (f"rnns.{l}.module.bias_ih_l0", rnn.bias_ih_l0),
                    (f"rnns.{l}.module.bias_hh_l0", rnn.bias_hh_l0)]
        else:
            out += [(f"rnns.{l}.weight_ih_l0", rnn.weight_ih_l0),
                    (f"rnns.{l}.weight_hh_l0", rnn.weight_hh_l0),
                    (f"rnns.{l}.bias_ih_l0", rnn.bias_ih_l0),
                    (f"rnns.{l}.bias_hh_l0", rnn.bias_hh_l0)]
    if not m.tied:
        out.append(("decoder.weight", m.decoder_weight))
    out.append(("decoder.bias", m.decoder_bias))
    return [(n, t.detach().contiguous()) for n, t in out]


# ----------------------------------------------------------------------------------------------
# Safetensors writer / reader (hand-written)

DTYPES = {  # name -> (torch dtype, struct code, size)
    "F32": (torch.float32, "f", 4),
    "F64": (torch.float64, "d", 8),
    "I32": (torch.int32, "i", 4),
}
DTYPE_NAME = {v[0]: k for k, v in DTYPES.items()}


def tensor_bytes(t):
    dname = DTYPE_NAME[t.dtype]
    code = DTYPES[dname][1]
    vals = t.reshape(-1).tolist()
    return struct.pack("<%d%s" % (len(vals), code), *vals)


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": dict(metadata)}
    blobs = []
    off = 0
    for name, t in tensors:
        b = tensor_bytes(t)
        header[name] = {"dtype": DTYPE_NAME[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    h += b" " * ((-len(h)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Independent reader: returns (metadata, {name: tensor}); checks header and offsets."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack_from("<Q", raw, 0)
    assert n % 8 == 0 and 8 + n <= len(raw), path
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    spans = []
    out = {}
    for name, info in header.items():
        tdtype, code, size = DTYPES[info["dtype"]]
        b, e = info["data_offsets"]
        count = 1
        for d in info["shape"]:
            count *= d
        assert 0 <= b <= e <= len(data) and e - b == count * size, (path, name)
        spans.append((b, e))
        vals = struct.unpack_from("<%d%s" % (count, code), data, b)
        out[name] = torch.tensor(vals, dtype=tdtype).reshape(info["shape"])
    spans.sort()
    pos = 0
    for b, e in spans:  # contiguous, non-overlapping, covering all data
        assert b == pos, (path, spans)
        pos = e
    assert pos == len(data), path
    return meta, out


# ----------------------------------------------------------------------------------------------
# Independent check: hand-written float64 LSTM from reloaded weights


def reference_logprobs(w, tokens, nlayers, awd=False, stats=None):
    def g(name):
        return w[name].double()

    x = g("encoder.weight")[torch.tensor(tokens, dtype=torch.long)]  # [T, E]
    for l in range(nlayers):
        p = f"rnns.{l}.module." if awd else f"rnns.{l}."
        Wih, Whh = g(p + "weight_ih_l0"), g(p + ("weight_hh_l0_raw" if awd else "weight_hh_l0"))
        bias = g(p + "bias_ih_l0") + g(p + "bias_hh_l0")
        H = Whh.shape[1]
        h = torch.zeros(H, dtype=torch.float64)
        c = torch.zeros(H, dtype=torch.float64)
        pre = x @ Wih.T + bias
        ys = []
        for t in range(x.shape[0]):
            z = pre[t] + Whh @ h
            i, f, gg, o = z[:H], z[H:2 * H], z[2 * H:3 * H], z[3 * H:]
            if stats is not None:
                stats[0] += int((z.abs() > 3).sum())
                stats[1] += z.numel()
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
            h = torch.sigmoid(o) * torch.tanh(c)
            ys.append(h)
        x = torch.stack(ys)
    dec = g("decoder.weight") if "decoder.weight" in w else g("encoder.weight")
    logits = x @ dec.T + g("decoder.bias")
    m = logits.max(dim=1, keepdim=True).values
    return logits - m - torch.log(torch.exp(logits - m).sum(dim=1, keepdim=True))


# ----------------------------------------------------------------------------------------------


def gen(cfg):
    d = os.path.join(HERE, cfg["name"])
    os.makedirs(d, exist_ok=True)
    text = cfg["text"]
    vocab, tokens = build_vocab(cfg["vocab"], text)
    V = 256 if vocab is None else len(vocab)
    N = len(tokens)
    nl = len(cfg["hidden"])

    model = init_model(cfg, V)
    tok = torch.tensor(tokens, dtype=torch.long)
    inp, tgt = tok[:-1], tok[1:]

    with torch.no_grad():
        lp32 = model(inp).gather(1, tgt[:, None]).squeeze(1)
        bpc32 = (-lp32.double().mean() / math.log(2)).item()
        weights32 = state_tensors(model)
        m64 = init_model(cfg, V)
        m64.load_state_dict(model.state_dict())
        m64 = m64.double()
        full = m64(inp)  # [N-1, V] float64
        lp = full.gather(1, tgt[:, None]).squeeze(1).contiguous()
        bpc = (-lp.mean() / math.log(2)).item()

    # ---- write
    with open(os.path.join(d, "model.lstm"), "w", encoding="utf-8") as f:
        f.write(cfg["spec"])
    with open(os.path.join(d, "text.txt"), "wb") as f:
        f.write(text.encode("utf-8"))
    meta = {"format": "pt"}
    if vocab is not None:
        meta["lstmc.vocab"] = json.dumps(vocab, ensure_ascii=False)
    write_safetensors(os.path.join(d, "weights.safetensors"), weights32, meta)
    if cfg["name"] == "bytes_tied2":
        write_safetensors(os.path.join(d, "weights_awd.safetensors"), state_tensors(model, awd=True), meta)
    expected = [
        ("logprobs", lp),
        ("bpc", torch.tensor([bpc], dtype=torch.float64)),
        ("tokens", tok.to(torch.int32)),
        ("full_logprobs", full[:N_FULL].contiguous()),
        ("bpc_f32", torch.tensor([bpc32], dtype=torch.float64)),
    ]
    write_safetensors(os.path.join(d, "expected.safetensors"), expected,
                      {"lstmc.golden": "1", "torch_version": torch.__version__})

    # ---- verify independently from the files on disk
    with open(os.path.join(d, "text.txt"), "rb") as f:
        text2 = f.read().decode("utf-8")
    wmeta, w = read_safetensors(os.path.join(d, "weights.safetensors"))
    vocab2 = json.loads(wmeta["lstmc.vocab"]) if "lstmc.vocab" in wmeta else None
    assert vocab2 == vocab
    _, tokens2 = build_vocab(cfg["vocab"], text2)
    emeta, e = read_safetensors(os.path.join(d, "expected.safetensors"))
    assert emeta["lstmc.golden"] == "1"
    assert e["tokens"].tolist() == tokens2 == tokens
    assert e["logprobs"].shape == (N - 1,) and e["full_logprobs"].shape == (N_FULL, V)
    for name, t in weights32:
        assert torch.equal(w[name], t), name
    assert ("decoder.weight" in w) == (not cfg["tied"])

    variants = [(w, False)]
    if cfg["name"] == "bytes_tied2":
        _, wa = read_safetensors(os.path.join(d, "weights_awd.safetensors"))
        variants.append((wa, True))
    stats = [0, 0]
    for wv, awd in variants:
        ref = reference_logprobs(wv, tokens2, nl, awd, stats)
        rlp = ref[:-1].gather(1, torch.tensor(tokens2[1:])[:, None]).squeeze(1)
        rbpc = (-rlp.mean() / math.log(2)).item()
        assert abs(rbpc - e["bpc"].item()) < 1e-10, (cfg["name"], rbpc, e["bpc"].item())
        assert (rlp - e["logprobs"]).abs().max().item() < 1e-10
        assert (ref[:N_FULL] - e["full_logprobs"]).abs().max().item() < 1e-10
    assert abs(e["bpc_f32"].item() - bpc) < 1e-4

    # saturation statistics (informational): fraction of gate pre-activations with |z| > 3
    print(f"{cfg['name']:15s} vocab={cfg['vocab']:5s} V={V:4d} N={N:4d} "
          f"BPC={bpc:.12f} (f32 {bpc32:.12f}, |diff| {abs(bpc - bpc32):.2e}; "
          f"{100.0 * stats[0] / stats[1]:.0f}% of gate inputs |z|>3)")


def main():
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    print(f"torch {torch.__version__}")
    for cfg in MODELS:
        gen(cfg)
    total = 0
    for root, _, files in os.walk(HERE):
        for fn in files:
            if "__pycache__" not in root:
                total += os.path.getsize(os.path.join(root, fn))
    print(f"total size of {os.path.relpath(HERE)}: {total} bytes")
    assert total < 1_000_000


if __name__ == "__main__":
    sys.exit(main())
