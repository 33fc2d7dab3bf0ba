"""The rules by which the workers of a shared ``tune`` study claim its places (``recipes.studies``),
on in-memory Optuna studies: the later of two trials racing for the last place yields; a trial cut
off holds its place until its retry is queued; a trial failed by an error of its own, or a retry
cut off again, holds none; without ``--storage`` a trial left running is queued again once."""
from __future__ import annotations

import pytest

optuna = pytest.importorskip("optuna")

from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from entitune.recipes import studies
from entitune.terminal import Console

LR = {"lr": FloatDistribution(1e-5, 1e-3, log=True)}


def study_with(*states: TrialState, **user_attrs) -> optuna.Study:
    """A study holding one trial per state given (parameters lr = 1e-4 x (n + 1))."""
    study = optuna.create_study(direction="maximize")
    for n, state in enumerate(states):
        study.add_trial(create_trial(state=state, params={"lr": 1e-4 * (n + 1)}, distributions=LR,
                                     value=0.5 if state == TrialState.COMPLETE else None,
                                     user_attrs=user_attrs if state == TrialState.FAIL else {}))
    return study


def test_the_later_of_two_trials_racing_for_the_last_place_yields():
    study = study_with(TrialState.COMPLETE, TrialState.COMPLETE)
    assert studies.room(study, 3, shared=True)
    first, second = study.ask(), study.ask()  # two workers saw room for one more, and both asked
    studies.claim(first, 3, shared=True)
    with pytest.raises(studies.SurplusTrial):
        studies.claim(second, 3, shared=True)
    assert study.trials[second.number].user_attrs["surplus"] and "surplus" not in study.trials[first.number].user_attrs
    assert not studies.room(study, 3, shared=True)


def test_a_cut_off_trial_holds_its_place_until_its_retry_is_queued():
    """A trial failed for silence (no error of its own): no other trial takes its place before the
    retry callback queues its parameters, nor after (the queued retry holds it), and the queued
    retry may be started."""
    study = study_with(TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL)
    trials = study.get_trials()
    assert studies.claims(trials, shared=True) == 3 and not studies.room(study, 3, shared=True)
    studies.retry_callback(Console(quiet=True))(study, trials[2])
    (retry,) = study.get_trials(states=(TrialState.WAITING,))
    assert retry.params == trials[2].params and retry.system_attrs["retry_history"] == [2]
    assert studies.claims(study.get_trials(), shared=True) == 3
    assert studies.room(study, 3, shared=True)  # the queued retry is there to be run
    trial = study.ask()
    assert trial.number == retry.number
    studies.claim(trial, 3, shared=True)  # not surplus: the cut trial's place is its retry's


def test_a_trial_failed_by_its_own_error_holds_no_place():
    study = study_with(TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAIL, error="no dev score")
    assert studies.claims(study.get_trials(), shared=True) == 2 and studies.room(study, 3, shared=True)


def test_a_retry_cut_off_again_is_not_queued_and_holds_no_place():
    study = study_with(TrialState.COMPLETE, TrialState.FAIL)
    studies.retry_callback(Console(quiet=True))(study, study.trials[1])
    retry = study.ask()
    study.tell(retry, state=TrialState.FAIL)  # the retry cut off in its turn
    studies.retry_callback(Console(quiet=True))(study, study.trials[retry.number])
    assert not study.get_trials(states=(TrialState.WAITING,))
    assert studies.claims(study.get_trials(), shared=True) == 1


def test_without_storage_a_trial_left_running_is_queued_again_once():
    """``requeue_running`` (the lock on OUT held): a trial left running is failed and its
    parameters queued; when that retry is left running too, it is failed and not queued again."""
    study = study_with(TrialState.COMPLETE)
    cut = study.ask({"lr": FloatDistribution(1e-5, 1e-3, log=True)})
    studies.requeue_running(study, Console(quiet=True))
    (retry,) = study.get_trials(states=(TrialState.WAITING,))
    assert study.trials[cut.number].state == TrialState.FAIL and retry.params == cut.params
    again = study.ask()
    assert again.number == retry.number
    studies.requeue_running(study, Console(quiet=True))
    assert study.trials[again.number].state == TrialState.FAIL
    assert not study.get_trials(states=(TrialState.WAITING, TrialState.RUNNING))
    # without heartbeats nothing is owed: only finished, running and queued trials hold places
    assert studies.claims(study.get_trials(), shared=False) == 1
