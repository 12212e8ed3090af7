R=$PWD; T0=$(date +%s); . .device/common.sh; O=/tmp/c7; mkdir -p $O
[ -f /tmp/wh/vllm.part1 ] && [ -d /tmp/fb/qwen3-1.7b ] || { echo COLD; exit 3; }
cat /tmp/wh/vllm.part1 .whl2/vllm.part2 | python3 -c "import lzma,tarfile,sys; tarfile.open(fileobj=lzma.open(sys.stdin.buffer),mode='r|').extractall('/tmp/site')" || exit 1
ts "vllm unpacked"; cd .device/src; M=/tmp/fb/qwen3-1.7b
CLI="python3 -c 'from formalpi.cli import main; main()' run experiments/math_try_again.toml --seeds 42"
V="--set model.backend=vllm --set model.path=$M --set data.dataset=arith --set model.vllm.gpu_memory_utilization=0.4 --set model.vllm.enforce_eager=true --set model.vllm.deterministic=true"
RT="--set data.train_limit=64 --set data.eval_limit=64 --set sampling.batch_size=128 --set sampling.max_new_tokens=128 --set eval.max_new_tokens=128"
eval timeout 150 $CLI $V $RT --set runs_dir=/tmp/t2 --num-gpus 2 > $O/retry_2gpu.log 2>&1; ts "r2 rc=$?"
P=math_try_again/42; tar -czf $OUT/t2.tgz --exclude='checkpoint_*' -C /tmp/t2/$P . ; cp $O/retry_2gpu.log $OUT/
eval timeout $(left 290) $CLI $V $RT --set runs_dir=/tmp/t1 > $O/retry_1gpu.log 2>&1; ts "r1 rc=$?"
tar -czf $OUT/t1.tgz --exclude='checkpoint_*' -C /tmp/t1/$P . ; cp $O/retry_1gpu.log $OUT/
python3 $R/.device/compare.py /tmp/t1/$P /tmp/t2/$P | tee $OUT/compare.json | cut -c1-1500
grep -E "Error|error" $O/retry_2gpu.log | head -5 | cut -c1-300; ts done
