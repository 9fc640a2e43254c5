import torch, time, sys
torch.set_num_threads(int(sys.argv[1]))
for n, shape in [(2048, None), (4096, (4096, 256, 1024)), (4096, (4096, 1024, 256))]:
    m, k, nn_ = shape or (n, n, n)
    a = torch.randn(m, k).bfloat16(); b = torch.randn(k, nn_).bfloat16()
    for _ in range(3): a @ b
    best = 1e9
    for _ in range(5):
        t = time.perf_counter(); 
        for _ in range(10): a @ b
        best = min(best, (time.perf_counter() - t) / 10)
    print(sys.argv[1], (m, k, nn_), f"{2*m*k*nn_/best/1e12:.2f} TFLOP/s")
x = torch.randn(4096, 1024).bfloat16()
t = time.perf_counter()
for _ in range(50): y = x * 2 + 1
print("elementwise", f"{(time.perf_counter()-t)/50*1e3:.3f} ms")
