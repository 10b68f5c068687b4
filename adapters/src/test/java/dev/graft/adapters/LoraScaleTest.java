package dev.graft.adapters;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class LoraScaleTest {
    @Test
    void plainAndRankStabilised() {
        assertThat(LoraScale.of(16, 8, false)).isEqualTo(2.0);
        assertThat(LoraScale.of(16, 64, true)).isEqualTo(2.0);
        assertThatThrownBy(() -> LoraScale.of(16, 0, false)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("rank");
    }
}
