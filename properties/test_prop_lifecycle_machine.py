"""Random lives of one slot: whatever a controller or the epoch clock does, the lifecycle's
invariants hold after every step."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from returns.result import Failure, Result, Success
from strategies import BLUEPRINTS, lifecycle_configs, seed_states

from esper_core import (
    ISOLATED_STAGES,
    BlendAlgorithm,
    BlendSchedule,
    BuildGate,
    DiscardGate,
    Effect,
    Emit,
    GateFailedError,
    IllegalTransitionError,
    LifecycleConfig,
    LifecycleError,
    SeedStage,
    SeedState,
    StageContext,
    StageRecord,
    Step,
    advance_stage,
    cull,
    fossilize,
    germinate,
    is_legal,
    legal_targets,
    record_accuracy,
    record_contribution,
    record_gradient_health,
    record_measured_alpha,
    step_epoch,
    unstructure_slot,
)

S = SeedStage


def count(effects: Sequence[Effect], kind: type) -> int:
    return sum(isinstance(effect, kind) for effect in effects)


def stage_entries(effects: Sequence[Effect]) -> int:
    return sum(isinstance(effect, Emit) and effect.event.kind == "stage_entered" for effect in effects)


def is_gated_blend(state: SeedState | None) -> bool:
    return state is not None and state.stage is S.BLENDING and state.blend_algorithm is BlendAlgorithm.GATED


class SingleSlotLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state: SeedState | None = None
        self.config = LifecycleConfig()
        self.epoch = 0
        self.gates_built = 0
        self.gates_discarded = 0
        self.fossilized = False
        self.slot_id = "r0c0"

    @initialize(config=lifecycle_configs, start=st.none() | seed_states())
    def configure(self, config: LifecycleConfig, start: SeedState | None) -> None:
        """Start from an empty slot or from a seed in any stage, so late stages get steps too."""
        self.config = config
        self.state = start
        self.slot_id = "r0c0" if start is None else start.slot_id
        self.gates_built = int(is_gated_blend(start))
        self.fossilized = start is not None and start.stage is S.FOSSILIZED

    def ctx(self) -> StageContext:
        return StageContext(epoch=self.epoch, timestamp=1000.0 + self.epoch, config=self.config)

    def apply(self, step: Step) -> None:
        """Check one step against the previous state, then make it current."""
        new, effects = step
        old = self.state
        old_stage = S.DORMANT if old is None else old.stage
        changed = new.stage is not old_stage or old is None
        if self.fossilized:
            assert new.stage is S.FOSSILIZED
        if changed:
            assert is_legal(old_stage, new.stage), (old_stage, new.stage)
            assert new.history[-1] == StageRecord(new.stage, self.epoch, self.ctx().timestamp)
            assert len(new.history) <= self.config.history_limit
        if changed and new.blend is not None:
            assert new.blend == BlendSchedule(algorithm=new.blend_algorithm, total_steps=self.config.blend_steps)
        assert stage_entries(effects) == int(changed)
        left_gated_blend = is_gated_blend(old) and new.stage is not S.BLENDING
        entered_gated_blend = is_gated_blend(new) and old_stage is not S.BLENDING
        assert count(effects, DiscardGate) == int(left_gated_blend)
        assert count(effects, BuildGate) == int(entered_gated_blend)
        self.gates_built += count(effects, BuildGate)
        self.gates_discarded += count(effects, DiscardGate)
        self.fossilized = new.stage is S.FOSSILIZED
        self.state = new

    def apply_result(self, result: Result[Step, LifecycleError]) -> None:
        if isinstance(result, Success):
            self.apply(result.unwrap())
        else:
            assert isinstance(result.failure(), LifecycleError)
            assert str(result.failure())

    # --- decisions -----------------------------------------------------------------------

    @rule(
        blueprint=st.sampled_from((*BLUEPRINTS, "unknown")),
        blend=st.none() | st.sampled_from(BlendAlgorithm),
        serial=st.integers(0, 99),
    )
    def germinate(self, blueprint: str, blend: BlendAlgorithm | None, serial: int) -> None:
        result = germinate(
            self.state,
            slot_id=self.slot_id,
            seed_id=f"seed-{serial}",
            blueprint_id=blueprint,
            known_blueprints=BLUEPRINTS,
            ctx=self.ctx(),
            blend=blend,
        )
        slot_free = self.state is None or self.state.stage is S.DORMANT
        if slot_free and blueprint in BLUEPRINTS:
            step = result.unwrap()
            assert step[0].stage is S.GERMINATED
            self.apply(step)
        else:
            assert isinstance(result, Failure) and isinstance(result.failure(), GateFailedError)

    @precondition(lambda self: self.state is not None)
    @rule(
        epochs=st.integers(1, 4),
        ratio=st.floats(0.0, 0.3) | st.none(),
        contribution=st.floats(-1.0, 3.0) | st.none(),
    )
    def train_epochs(self, epochs: int, ratio: float | None, contribution: float | None) -> None:
        """Epochs as the training engine runs them: measure the seed, then step.

        Up to ``epochs`` quiet epochs per rule, each checked, so that random runs get through
        whole lives; it stops at a stage change so a controller can react to the new stage.
        """
        for _ in range(epochs):
            assert self.state is not None
            stage = self.state.stage
            self.measure(record_gradient_health(self.state, ratio=ratio, finite=True))
            self.measure(record_contribution(self.state, contribution))
            self.epoch += 1
            self.apply(step_epoch(self.state, self.ctx()))
            if self.state.stage is not stage:
                return

    @precondition(lambda self: self.state is not None)
    @rule(legal_only=st.booleans(), data=st.data())
    def advance(self, legal_only: bool, data: st.DataObject) -> None:
        """Request a stage: half the time a legal one (gates still decide), else any."""
        assert self.state is not None
        choices = legal_targets(self.state.stage) if legal_only and legal_targets(self.state.stage) else tuple(S)
        requested = data.draw(st.sampled_from(choices), label="requested")
        result = advance_stage(self.state, requested, self.ctx())
        if not is_legal(self.state.stage, requested) or requested is S.GERMINATED:
            assert isinstance(result.failure(), IllegalTransitionError)
        elif isinstance(result, Success):
            assert result.unwrap()[0].stage is requested
        self.apply_result(result)

    @precondition(lambda self: self.state is not None)
    @rule(culling=st.booleans())
    def cull_or_fossilize(self, culling: bool) -> None:
        """One rule for both, so culls do not cut most lives short before they blend."""
        assert self.state is not None
        self.apply_result((cull if culling else fossilize)(self.state, self.ctx()))

    # --- measurements --------------------------------------------------------------------

    def measure(self, new: SeedState) -> None:
        """A measurement never moves a seed nor changes what it blends in."""
        assert self.state is not None
        assert (new.stage, new.alpha, new.blend) == (self.state.stage, self.state.alpha, self.state.blend)
        self.state = new

    @precondition(lambda self: self.state is not None)
    @rule(accuracy=st.floats(0.0, 100.0))
    def measure_accuracy(self, accuracy: float) -> None:
        assert self.state is not None
        self.measure(record_accuracy(self.state, accuracy))

    @precondition(lambda self: self.state is not None)
    @rule(contribution=st.none() | st.floats(-3.0, 3.0))
    def measure_contribution(self, contribution: float | None) -> None:
        assert self.state is not None
        self.measure(record_contribution(self.state, contribution))

    @precondition(lambda self: self.state is not None)
    @rule(ratio=st.none() | st.floats(0.0, 0.3), finite=st.booleans())
    def measure_gradients(self, ratio: float | None, finite: bool) -> None:
        assert self.state is not None
        self.measure(record_gradient_health(self.state, ratio=ratio, finite=finite))

    @precondition(lambda self: self.state is not None)
    @rule(alpha=st.floats(-0.5, 1.5))
    def measure_gated_alpha(self, alpha: float) -> None:
        assert self.state is not None
        result = record_measured_alpha(self.state, alpha)
        if is_gated_blend(self.state) and 0.0 <= alpha <= 1.0:
            new = result.unwrap()
            assert new.alpha == alpha and new.stage is S.BLENDING
            self.state = new
        else:
            assert isinstance(result.failure(), LifecycleError)

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def alpha_is_a_fraction(self) -> None:
        if self.state is not None:
            assert 0.0 <= self.state.alpha <= 1.0

    @invariant()
    def alpha_is_fixed_outside_blending(self) -> None:
        if self.state is None:
            return
        if self.state.stage in (S.PROBATIONARY, S.FOSSILIZED):
            assert self.state.alpha == 1.0
        elif self.state.stage is not S.BLENDING:
            assert self.state.alpha == 0.0

    @invariant()
    def only_blending_has_a_schedule(self) -> None:
        if self.state is not None:
            assert (self.state.blend is not None) is (self.state.stage is S.BLENDING)

    @invariant()
    def a_gate_exists_exactly_during_a_gated_blend(self) -> None:
        assert self.gates_built - self.gates_discarded == int(is_gated_blend(self.state))

    @invariant()
    def a_checkpoint_records_the_isolation_of_the_stage(self) -> None:
        isolated = self.state is not None and self.state.stage in ISOLATED_STAGES
        assert unstructure_slot(self.state)["isolate_gradients"] is isolated

    @invariant()
    def only_an_embargo_counts_down(self) -> None:
        if self.state is not None and self.state.stage is not S.EMBARGOED:
            assert self.state.embargo_remaining == 0


SingleSlotLifecycle.TestCase.settings = settings(max_examples=100, stateful_step_count=40, deadline=None)
test_single_slot_lifecycle = SingleSlotLifecycle.TestCase
