#!/bin/bash
# Run on the lent H200 as `T=395 bash bench/device/sweeps_round2.sh`, carrying `.gpu/` as for round 1.
# second device call: ten more runs side by side; everything is packed into one results.tgz at the end
T=${T:-400}; R=/tmp/res
source bench/device/common.sh
AG="$S --recipes bench/sweeps/ag_news.json --work /tmp/sw/ag"
run ag_lr $AG --out $R/sweep_ag_lr2e-4.json --only mean_lr2e-4_avg_s42,mean_lr2e-4_avg_s1,mean_lr2e-4_avg_s2
run ag_head $AG --out $R/sweep_ag_headlr.json --only mean_headlr2e-3_avg_s42,mean_headlr2e-3_avg_s1,mean_headlr2e-3_avg_s2
run ag_ld $AG --out $R/sweep_ag_ld.json --only mean_ld0.8_lr2e-4_avg_s42,mean_ld0.8_lr2e-4_avg_s1,mean_ld0.8_lr2e-4_avg_s2
run ag_bs64 $AG --out $R/sweep_ag_bs64.json --only mean_bs64_lr2e-4_e5_avg_s42,mean_bs64_lr2e-4_e5_avg_s1,mean_bs64_lr2e-4_e5_avg_s2
MIT="$S --recipes bench/sweeps/mit_movie.json --work /tmp/sw/mit"
run mit1 $MIT --out $R/sweep_mit_e10.json --only mit_e10_avg
run mit2 $MIT --out $R/sweep_mit_crf_e10.json --only mit_crf_e10_avg
run mit3 $MIT --out $R/sweep_mit_lr.json --only mit_lr5e-5_e8_avg,mit_ld0.9_lr2e-4_e8_avg
run wnut $S --recipes bench/sweeps/wnut17.json --work /tmp/sw/wnut --out $R/sweep_wnut2.json --only wnut_shapechars_bs16,wnut_shapechars_drop0.2_e5_avg,wnut_shapechars_lr5e-5_e8_avg
C="$S --recipes bench/sweeps/conll2003.json --work /tmp/sw/conll"
run conll1 $C --out $R/sweep_conll_len128.json --only conll_shapechars_ctx64_len128,conll_ctx64_len128
run conll2 $C --out $R/sweep_conll_s1.json --only conll_shapechars_ctx64_s1,conll_shapechars_s1
wait "${pids[@]}"
kill $SMI 2>/dev/null; echo quit | nvidia-cuda-mps-control 2>/dev/null
cat $R/logs/exits.txt
grep -h -v -i -E "warn|^\s*$" $R/logs/*.txt | grep -E "^(kmou|wnut|conll|mit|mean|cls)" | cut -c1-200
tar czf $OUT/results.tgz $R $(ls -d /tmp/sw/*/*/train_log.json) 2>/dev/null; ls -la $OUT
