"""An independent Merkle tree in the RFC 6962 form, written from the RFC's definitions
(section 2.1), for checking Mandate's: it prints, as JSON, the root of every tree of 0 to
N leaves over the leaves b"leaf-0", b"leaf-1", ..., every inclusion proof in them and
every consistency proof between them.

Usage: python3 merkle_reference.py N
"""
import hashlib
import json
import sys


def leaf(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaf(leaves[0])
    k = split(len(leaves))
    return node(mth(leaves[:k]), mth(leaves[k:]))


def path(m, leaves):
    if len(leaves) <= 1:
        return []
    k = split(len(leaves))
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


def subproof(m, leaves, whole):
    if m == len(leaves):
        return [] if whole else [mth(leaves)]
    k = split(len(leaves))
    if m <= k:
        return subproof(m, leaves[:k], whole) + [mth(leaves[k:])]
    return subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


def main():
    n = int(sys.argv[1])
    leaves = [b"leaf-%d" % i for i in range(n)]
    out = {"roots": [], "inclusion": [], "consistency": []}
    for size in range(n + 1):
        out["roots"].append(mth(leaves[:size]).hex())
        for index in range(size):
            proof = [h.hex() for h in path(index, leaves[:size])]
            out["inclusion"].append({"index": index, "size": size, "proof": proof})
        for old in range(1, size + 1):
            proof = [h.hex() for h in subproof(old, leaves[:size], True)]
            out["consistency"].append({"old": old, "new": size, "proof": proof})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
