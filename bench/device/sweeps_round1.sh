#!/bin/bash
# Run on the lent H200 from the repository root as `T=535 bash bench/device/sweeps_round1.sh` with `.gpu/`
# carried: .gpu/model (all-MiniLM-L6-v2 as fp16, the 64 MiB transfer limit; restored to fp32 here),
# .gpu/data.tgz (the ../shared/data sets used) and .gpu/site (seqeval).
# one device call: twelve independent runs side by side on the one GPU, each writing its JSON into $OUT as it goes
T=${T:-540}; R=$OUT
source bench/device/common.sh
A="python3 bench/domain_ablation.py --data /tmp/data --model $M --device cuda --precision fp32"
run kmou_a $A --sets kmou --variants neither,extension,both --pretrain-epochs 15 --work /tmp/abl/ka --out $OUT/domain_kmou_a.json
run kmou_b $A --sets kmou --variants pretraining --pretrain-epochs 15 --work /tmp/abl/kb --out $OUT/domain_kmou_b.json
run kmou_r $A --sets kmou --variants extension,both --init random --pretrain-epochs 15 --work /tmp/abl/kr --out $OUT/domain_kmou_random.json
run wnut_pt $A --sets wnut --variants neither,pretraining --pretrain-epochs 20 --work /tmp/abl/w --out $OUT/domain_wnut.json
run ag42 $S --recipes bench/sweeps/ag_news.json --work /tmp/sw/ag --out $OUT/sweep_ag_s42.json --only mean_avg_s42,mean_full_s42,mean_drop0.2_avg_s42,mean_e4_avg_s42,cls_avg_s42
run ag1 $S --recipes bench/sweeps/ag_news.json --work /tmp/sw/ag --out $OUT/sweep_ag_s1.json --only mean_avg_s1,mean_full_s1,mean_drop0.2_avg_s1,mean_e4_avg_s1
run ag2 $S --recipes bench/sweeps/ag_news.json --work /tmp/sw/ag --out $OUT/sweep_ag_s2.json --only mean_avg_s2,mean_full_s2,mean_drop0.2_avg_s2,mean_e4_avg_s2
run conll_d $S --recipes bench/sweeps/conll2003.json --work /tmp/sw/conll --out $OUT/sweep_conll_d.json --only conll_base,conll_shape,conll_shapechars
run conll_e $S --recipes bench/sweeps/conll2003.json --work /tmp/sw/conll --out $OUT/sweep_conll_e.json --only conll_ctx64,conll_shapechars_ctx64
run conll_f $S --recipes bench/sweeps/conll2003.json --work /tmp/sw/conll --out $OUT/sweep_conll_f.json --only conll_shapechars_ctx64_e5_avg,conll_shapechars_ctx64_e5_avg_ld0.9
run wnut $S --recipes bench/sweeps/wnut17.json --work /tmp/sw/wnut --out $OUT/sweep_wnut.json
run mit $S --recipes bench/sweeps/mit_movie.json --work /tmp/sw/mit --out $OUT/sweep_mit.json
sleep 5; nvidia-smi --query-compute-apps=pid,used_memory --format=csv | head -20
wait "${pids[@]}"
kill $SMI 2>/dev/null; echo quit | nvidia-cuda-mps-control 2>/dev/null
cat $OUT/logs/exits.txt
grep -h -v -i -E "warn|^\s*$" $OUT/logs/*.txt | grep -E "^(kmou|wnut|conll|mit|mean|cls)" | cut -c1-200
