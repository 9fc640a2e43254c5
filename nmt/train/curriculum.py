"""`train.curriculum`: which training pairs are admitted at each update, by length.

A curriculum gives the longest pair (in tokens, the longer side + BOS/EOS) that batches may hold at
an update: a pure function of the update step and the progress through the budget, so a resumed
run admits what an uninterrupted one would. The batch sampler skips batches holding a longer pair;
batches stay token-budget batches of similar lengths.

- phases (short-then-long): BERT trained 90 % of its steps on sequences of at most 128 tokens;
  Press et al. 2020 (Shortformer) showed the gain. Each phase lasts until a step or a fraction of
  the budget; the last one lasts to the end.
- competence (Platanios et al. 2019, square root): the admitted share of the length-sorted corpus
  is c(t) = min(1, sqrt(t (1 - c0^2) / T + c0^2)).
"""
import math
import typing

from pydantic import Field, model_validator

from nmt.errors import NmtError
from nmt.schema import Float, Section, one_of


class NoCurriculumConfig(Section):
    type: typing.Literal["none"] = Field("none", description="none | phases | competence")

    def length_limit(self, step, progress, sorted_lengths):
        return None


class PhaseConfig(Section):
    max_tokens: int = Field(0, ge=0, description="longest pair admitted; 0 = all")
    until_step: int = Field(0, ge=0, description="the phase ends after this update ...")
    until_fraction: Float = Field(0.0, ge=0, le=1, description="... or at this fraction of the budget")


class PhasesConfig(Section):
    type: typing.Literal["phases"] = Field("phases", description="short-then-long phases")
    phases: typing.List[PhaseConfig] = Field(
        [PhaseConfig(max_tokens=64, until_fraction=0.9), PhaseConfig()], min_length=1,
        description="each {max_tokens, until_step | until_fraction}; the last one lasts to the end")

    @model_validator(mode="after")
    def _each_phase_ends_once(self):
        *middle, last = self.phases
        for i, phase in enumerate(middle):
            if bool(phase.until_step) == bool(phase.until_fraction):
                raise ValueError(f"train.curriculum.phases[{i}] must end by one of until_step or until_fraction")
        if last.until_step or last.until_fraction:
            raise ValueError("train.curriculum.phases: the last phase lasts to the end; give it no until_*")
        return self

    def length_limit(self, step, progress, sorted_lengths):
        for phase in self.phases[:-1]:
            if (phase.until_step and step <= phase.until_step) or (phase.until_fraction
                                                                  and progress < phase.until_fraction):
                return phase.max_tokens or None
        return self.phases[-1].max_tokens or None


class CompetenceConfig(Section):
    type: typing.Literal["competence"] = Field("competence", description="Platanios et al. 2019")
    initial: Float = Field(0.01, gt=0, le=1, description="c0: the share of the shortest pairs admitted at first")
    duration_steps: int = Field(0, ge=0, description="T: updates until all pairs are admitted ...")
    duration_fraction: Float = Field(0.0, ge=0, le=1, description="... or the fraction of the budget until then")

    @model_validator(mode="after")
    def _one_duration(self):
        if bool(self.duration_steps) == bool(self.duration_fraction):
            raise ValueError("train.curriculum: give one of duration_steps or duration_fraction")
        return self

    def competence(self, step, progress):
        done = step / self.duration_steps if self.duration_steps else progress / self.duration_fraction
        return min(1.0, math.sqrt(done * (1 - self.initial ** 2) + self.initial ** 2))

    def length_limit(self, step, progress, sorted_lengths):
        share = self.competence(step, progress)
        return None if share >= 1 else int(sorted_lengths[max(0, math.ceil(share * len(sorted_lengths)) - 1)])


CurriculumConfig = one_of(NoCurriculumConfig, PhasesConfig, CompetenceConfig)


def require_budget(curriculum, limits):
    """A curriculum that ends at a fraction of the budget needs a budget. Checked when training starts, not
    in the config: `nmt preprocess` reads the same config, and the budget often comes only with `--max-time`."""
    uses_fraction = (getattr(curriculum, "duration_fraction", 0)
                     or any(p.until_fraction for p in getattr(curriculum, "phases", [])))
    if uses_fraction and not (limits.max_steps or limits.max_time):
        raise NmtError("train.curriculum: a fraction of the budget needs train.limits.max_steps or max_time "
                       "(--max-time)")
