# call 2 (vLLM part 2 carried; deps, vLLM part 1 and the 1.7B dir left by call 1 on this warm machine):
# prefix-cache A/B on one engine; sharded eval 1 vs 2 GPUs, new code and old code; retry loop 1 vs 2 GPUs
R=$PWD; T0=$(date +%s); . .device/common.sh
O=/tmp/c2; mkdir -p $O
[ -f /tmp/wh/vllm.part1 ] && [ -d /tmp/site/trl ] || { echo "COLD MACHINE: call 1's files are gone"; exit 3; }
cat /tmp/wh/vllm.part1 .whl2/vllm.part2 | python3 -c "import lzma,tarfile,sys; tarfile.open(fileobj=lzma.open(sys.stdin.buffer),mode='r|').extractall('/tmp/site')" || exit 1
ts "vllm unpacked"; date -u
cd .device/src
M=/tmp/fb/qwen3-1.7b; ls $M >/dev/null || exit 4
CLI="python3 -c 'from formalpi.cli import main; main()' run experiments/math_try_again.toml --seeds 42"
V="--set model.backend=vllm --set model.path=$M --set data.dataset=arith --set model.vllm.gpu_memory_utilization=0.5 --set model.vllm.enforce_eager=true"
EV="--set method=baseline --set data.eval_limit=64 --set eval.n=4 --set eval.max_new_tokens=128 --set eval.temperature=1.0"
RT="--set data.train_limit=64 --set data.eval_limit=64 --set sampling.batch_size=128 --set sampling.max_new_tokens=128 --set eval.max_new_tokens=128"
(
  CUDA_VISIBLE_DEVICES=0 timeout 150 python3 bench/gpu_prefix_cache.py --model $M --prefix-caching on --json $O/pc_on.json > $O/pc_on.log 2>&1; ts "pc on rc=$?"
  CUDA_VISIBLE_DEVICES=0 eval timeout 100 $CLI $V $EV --set runs_dir=/tmp/e1new > $O/eval_1gpu_new.log 2>&1; ts "eval 1gpu new rc=$?"
) > $O/gpu0.log 2>&1 &
(
  CUDA_VISIBLE_DEVICES=1 timeout 120 python3 bench/gpu_prefix_cache.py --model $M --prefix-caching off --json $O/pc_off.json > $O/pc_off.log 2>&1; ts "pc off rc=$?"
  CUDA_VISIBLE_DEVICES=1 PYTHONPATH=$R/.device/old:/tmp/site eval timeout 100 $CLI $V $EV --set runs_dir=/tmp/e1old > $O/eval_1gpu_old.log 2>&1; ts "eval 1gpu old rc=$?"
  CUDA_VISIBLE_DEVICES=1 eval timeout 150 $CLI $V $RT --set runs_dir=/tmp/r1 > $O/retry_1gpu.log 2>&1; ts "retry 1gpu rc=$?"
) > $O/gpu1.log 2>&1 &
wait; cat $O/gpu0.log $O/gpu1.log; save c2
eval timeout 100 $CLI $V $EV --set runs_dir=/tmp/e2new --num-gpus 2 > $O/eval_2gpu_new.log 2>&1; ts "eval 2gpu new rc=$?"
PYTHONPATH=$R/.device/old:/tmp/site eval timeout 100 $CLI $V $EV --set runs_dir=/tmp/e2old --num-gpus 2 > $O/eval_2gpu_old.log 2>&1; ts "eval 2gpu old rc=$?"
save c2
eval timeout $(left 575) $CLI $V $RT --set runs_dir=/tmp/r2 --num-gpus 2 > $O/retry_2gpu.log 2>&1; ts "retry 2gpu rc=$?"
P=math_try_again/42
for x in "e1new e2new" "e1old e2old" "e1old e1new" "r1 r2"; do set -- $x; python3 $R/.device/compare.py /tmp/$1/$P /tmp/$2/$P; done > $O/compare.jsonl 2>&1
cat $O/compare.jsonl | cut -c1-700; cat $O/pc_on.json $O/pc_off.json
cp /tmp/r1/$P/manifest.json $O/retry_1gpu_manifest.json; cp /tmp/r2/$P/manifest.json $O/retry_2gpu_manifest.json
save c2; ts done
