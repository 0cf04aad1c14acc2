#!/usr/bin/env bash
# The Bible paraphrase task end to end on a CPU budget: vocabulary and NSP shards from the Bible
# chapters (the test books left out), MLM + NSP pre-training, then the KJV/WEB pair task from the
# pre-trained model and from random init (the control), several seeds each.
#   bash recipes/bible/run.sh [PRETRAIN_MINUTES] [LABELS] [SEEDS]     (defaults: 10, 4000, 3)
# Results: runs/bible/finetune*/summary (printed) and runs/bible/report.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
MINUTES=${1:-10}
LABELS=${2:-4000}
SEEDS=${3:-3}
WS=${WARMSTART:-.venv/bin/warmstart}
$WS tokenizer recipes/bible/tokenizer.yaml
$WS prepare recipes/bible/prepare-nsp.yaml --overwrite
rm -rf runs/bible/pretrain  # a fresh run (pretrain --resume continues an interrupted one instead)
$WS pretrain recipes/bible/pretrain.yaml --minutes "$MINUTES" --set training.eval_every=100 \
    --set training.checkpoint_every=200
for run in finetune finetune-scratch; do
    $WS finetune recipes/bible/$run.yaml --label-budget "$LABELS" --seeds "$SEEDS" --epochs 3 \
        | tee runs/bible/$run.log
done
{
    echo "# Bible paraphrase (KJV/WEB verse pairs): pre-trained vs from scratch"
    echo
    echo "Command: \`bash recipes/bible/run.sh $MINUTES $LABELS $SEEDS\` ($LABELS labeled pairs, $SEEDS seeds, 3 epochs;"
    echo "test = the 1,916 pairs of 7 held-out books; pre-training: $MINUTES minutes of MLM + NSP on the other books)."
    for run in finetune finetune-scratch; do
        echo; echo "## $run"; echo; echo '```'; grep -E "^(validation|test) " runs/bible/$run.log; echo '```'
    done
} > runs/bible/report.md
cat runs/bible/report.md
