package dev.graft.examples;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.testing.RealModels;
import dev.graft.verify.VerifyReport;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelSoupTest {
    @TempDir
    Path dir;

    @Test
    void weightOneGivesTheFirstModelBack() {
        // 1.0·a + 0.0·b = a exactly, so ORT outputs match a bit for bit
        VerifyReport r = ModelSoup.run(RealModels.bgeSmall(), RealModels.e5Small(), dir.resolve("soup.onnx"), 1.0);
        assertThat(r.maxAbs()).isZero();
        VerifyReport half = ModelSoup.run(RealModels.bgeSmall(), RealModels.e5Small(), dir.resolve("half.onnx"), 0.5);
        assertThat(half.maxAbs()).isGreaterThan(0);
        assertThat(half.allFinite()).isTrue();
    }
}
