package dev.graft.exec;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ArrayPoolTest {
    @Test
    void reusesArraysByLengthAndMakesRoomForTheLatestLength() {
        ArrayPool pool = new ArrayPool(4 * 100);
        float[] big = pool.floats(60);
        float[] small = pool.floats(30);
        pool.release(big);
        pool.release(small); // 60 + 30 fit under 100
        assertThat(pool.floats(60)).isSameAs(big);
        assertThat(pool.floats(30)).isSameAs(small);
        pool.release(big);
        float[] other = new float[50];
        pool.release(other); // 60 + 50 do not fit: the 60 goes
        assertThat(pool.floats(50)).isSameAs(other);
        assertThat(pool.floats(60)).isNotSameAs(big);
        pool.release(new float[101]); // larger than the whole pool: not kept
        assertThat(pool.floats(101)).hasSize(101);
    }
}
