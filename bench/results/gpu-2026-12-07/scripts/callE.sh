# call E (carries .pkB; after `MODEL=0 CUT=0 callA.sh` on the same machine): vLLM unpacked, then the GPU test of an
# eval engine between two OPSD runs sharing the colocated engine: as committed, then with VLLMGenerator.close
# tearing down torch.distributed whoever set it up (the code before), on a patched copy
R=$PWD; T0=$(date +%s); . bench/results/gpu-2026-12-07/scripts/common.sh
cat /tmp/wh/vllm.xz.part1 .pkB/vllm.xz.part2 | untar && ts unpacked
K="-m gpu -v -s -p no:cacheprovider -k eval_engine"
timeout ${CUT:-70} python3 -m pytest tests/test_colocate_gpu.py $K > $OUT/gpu_test_eval_engine.log 2>&1; ts "gpu test rc=$?"
grep -E "step [0-9]|PASSED|FAILED|passed|failed|^E " $OUT/gpu_test_eval_engine.log | cut -c1-300 | tail -12
rm -rf /tmp/old && mkdir /tmp/old && cp -r formalpi tests pyproject.toml /tmp/old/ && sed -i 's/if getattr(self, "_owns_distributed", True):/if True:/' /tmp/old/formalpi/engine/backends.py && grep -c "if True:" /tmp/old/formalpi/engine/backends.py
(cd /tmp/old && PYTHONPATH=/tmp/old:/tmp/site timeout ${CUT:-70} python3 -m pytest tests/test_colocate_gpu.py $K > $OUT/gpu_test_eval_engine_old.log 2>&1; echo "old rc=$?")
grep -E "step [0-9]|PASSED|FAILED|passed|failed|^E " $OUT/gpu_test_eval_engine_old.log | cut -c1-300 | tail -12
