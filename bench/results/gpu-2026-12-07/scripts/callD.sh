# call D (carries .pkB; after `MODEL=0 CUT=0 callA.sh` on the same machine): vLLM unpacked, then the GPU tests
# alone (tests/test_colocate_gpu.py, one process, in file order: the first engine is built by the numerics test)
R=$PWD; T0=$(date +%s); . bench/results/gpu-2026-12-07/scripts/common.sh
cat /tmp/wh/vllm.xz.part1 .pkB/vllm.xz.part2 | untar && ts unpacked
timeout ${CUT:-300} python3 -m pytest tests/test_colocate_gpu.py -m gpu -v -s -p no:cacheprovider > $OUT/gpu_tests.log 2>&1; ts "gpu tests rc=$?"
grep -E "identical|switches|step [0-9]|PASSED|FAILED|passed|failed|^E " $OUT/gpu_tests.log | cut -c1-300 | tail -40
