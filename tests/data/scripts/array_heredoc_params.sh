#!/bin/bash
#SBATCH --job-name=md-temps
#SBATCH --array=1,3,5,7
#SBATCH --time=00:20:00
#SBATCH --mem=2G

# The heredoc below contains lines that look like directives: sbatch stopped reading at the
# first command above, so they are plain text to the job.
TEMP=$(( 250 + SLURM_ARRAY_TASK_ID * 10 ))
cat > run_${SLURM_ARRAY_TASK_ID}.in <<END
#SBATCH --time=99:00:00
#SBATCH --ntasks=512
temperature ${TEMP}
steps 10000
END
cat run_${SLURM_ARRAY_TASK_ID}.in
rm -f run_${SLURM_ARRAY_TASK_ID}.in
