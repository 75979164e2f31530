import sys, ballast
ds = ballast.WeightedDataset(sys.argv[1], decode=False, seed=int(sys.argv[2]), draws=int(sys.argv[3]),
                             rank=int(sys.argv[4]), world=int(sys.argv[5]), keys=True)
for image, caption, labels, weight, key in ds:
    print(key)
