# call 2 (vLLM wheel part 1 carried): stashed for call 3 (the machine stays warm between the calls)
R=$PWD; T0=$(date +%s); mkdir -p /tmp/wh; cp .whl/vllm.part1 /tmp/wh/ && echo stashed; ls -la /tmp/wh /tmp/site | head -3
