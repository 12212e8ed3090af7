# call 4 (nothing carried): the transformers OPSD baseline (chunked loss), one step of 32 x 2,048, cut at ${CUT:-200} s
R=$PWD; T0=$(date +%s); . bench/results/gpu-2026-12-07/scripts/common.sh
timeout ${CUT:-200} python3 bench/gpu_opsd_iprs.py --method opsd --backend hf --batch-size 32 --max-new-tokens 2048 --warmup 0 --steps 1 --work /tmp/fb > $OUT/hf_opsd_32x2048.jsonl 2> $OUT/hf_opsd_32x2048.err; ts "hf opsd rc=$?"
grep -v '"event": "start"' $OUT/hf_opsd_32x2048.jsonl; tail -3 $OUT/hf_opsd_32x2048.err
