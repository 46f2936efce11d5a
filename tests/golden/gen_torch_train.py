"""PyTorch state dicts saved as safetensors, for tests/lua/serialize_spec.lua.

Writes tests/golden/torch_mlp.safetensors and torch_cnn.safetensors: the
state_dict of a small model exactly as PyTorch names it ('0.weight', BatchNorm's
num_batches_tracked...), plus an input and PyTorch's output in eval mode under
the names '__input' and '__expected' (brasa's loaders skip names starting with
'__'). Run with the Debian python (it sees python3-torch):

    /usr/bin/python3 tests/golden/gen_torch_train.py

The safetensors writer is written out here so that the package `safetensors`
is not needed.
"""
import json
import os
import struct

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
DTYPES = {torch.float32: 'F32', torch.float64: 'F64', torch.int64: 'I64'}


def save_file(tensors, path, metadata):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        data = t.detach().contiguous().cpu().numpy().tobytes()   # little-endian on x86
        header[name] = {'dtype': DTYPES[t.dtype], 'shape': list(t.shape),
                        'data_offsets': [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    header['__metadata__'] = metadata
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def write(model, x, name):
    model.eval()
    with torch.no_grad():
        y = model(x)
    tensors = dict(model.state_dict())
    tensors['__input'] = x
    tensors['__expected'] = y
    save_file(tensors, os.path.join(HERE, name), {'format': 'pt'})
    print(name, list(model.state_dict().keys()))


def main():
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    write(mlp, torch.randn(5, 4), 'torch_mlp.safetensors')

    cnn = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(2 * 3 * 3, 3))
    with torch.no_grad():
        cnn[1].running_mean.copy_(torch.randn(2) * 0.1)
        cnn[1].running_var.copy_(torch.rand(2) + 0.5)
        cnn[1].weight.copy_(torch.rand(2) + 0.5)
        cnn[1].bias.copy_(torch.randn(2) * 0.1)
        cnn[1].num_batches_tracked.fill_(7)
    write(cnn, torch.randn(2, 1, 6, 6), 'torch_cnn.safetensors')


if __name__ == '__main__':
    main()
