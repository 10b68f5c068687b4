package dev.graft;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.lang.ArchRule;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The allowed dependencies between Graft's modules and packages (docs/ARCHITECTURE.md), checked on the compiled
 * main classes of every module the CLI is built from. A forbidden import fails the build here.
 */
class ArchitectureTest {
    /** Packages of module graft-api. */
    static final String[] API = {"dev.graft", "dev.graft.data..", "dev.graft.exec..", "dev.graft.graph..",
        "dev.graft.index..", "dev.graft.linalg..", "dev.graft.onnx..", "dev.graft.plan..", "dev.graft.recipe..", "dev.graft.tensor..",
        "dev.graft.verify.."};
    /** Packages of module graft-merge. */
    static final String[] MERGE = {"dev.graft.merge..", "dev.graft.align..", "dev.graft.pleas..", "dev.graft.regmean..",
            "dev.graft.eval..", "dev.graft.search..", "dev.graft.moe..", "dev.graft.report.."};

    private static JavaClasses classes;

    @BeforeAll
    static void importClasses() {
        // main classes of every module, from their folders or jars, without the test jars and test classes
        classes = new ClassFileImporter().withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .withImportOption(location -> !location.contains("-tests.jar")).importPackages("dev.graft");
    }

    /** api beneath merge and adapters, which do not see each other; the CLI on top. */
    static final ArchRule MODULES = layeredArchitecture().consideringOnlyDependenciesInAnyPackage("dev.graft..")
            .layer("api").definedBy(API)
            .layer("merge").definedBy(MERGE)
            .layer("adapters").definedBy("dev.graft.adapters..")
            .layer("cli").definedBy("dev.graft.cli..")
            .whereLayer("cli").mayNotBeAccessedByAnyLayer()
            .whereLayer("merge").mayOnlyBeAccessedByLayers("cli")
            .whereLayer("adapters").mayOnlyBeAccessedByLayers("cli")
            .whereLayer("api").mayOnlyBeAccessedByLayers("merge", "adapters", "cli");

    /** No cycles between packages (each package is its own slice; the root package is checked below). */
    static final ArchRule PACKAGES = slices().matching("dev.graft.(**)").should().beFreeOfCycles();

    /** The root package's exceptions sit beneath everything: they use no other Graft package. */
    static final ArchRule ERRORS = noClasses().that().resideInAPackage("dev.graft")
            .and().areAssignableTo(GraftException.class)
            .should().dependOnClassesThat().resideInAnyPackage("dev.graft.(*)..");

    /** Recipes are read in one place: no module but api parses YAML. */
    static final ArchRule YAML = noClasses().that().resideOutsideOfPackage("dev.graft.recipe..")
            .should().dependOnClassesThat().resideInAPackage("com.fasterxml.jackson.dataformat.yaml..");

    /**
     * Graph nodes are read and edited by the graph layer only: the format ({@code onnx}), the index, graph views
     * and edits ({@code graph}), and the packages whose job is op semantics (op rules in {@code align}, the
     * verifier's probes, products built as graphs in {@code linalg}).
     */
    static final ArchRule NODES = noClasses().that().resideOutsideOfPackages("dev.graft.onnx..", "dev.graft.index..",
                    "dev.graft.graph..", "dev.graft.verify..", "dev.graft.linalg..", "dev.graft.align..")
            .should().dependOnClassesThat().haveFullyQualifiedName("ai.onnx.proto.OnnxMl$NodeProto")
            .orShould().dependOnClassesThat().haveFullyQualifiedName("ai.onnx.proto.OnnxMl$NodeProto$Builder");

    @Test
    void onlyGraphFacingCodeTouchesNodes() {
        NODES.check(classes);
    }

    @Test
    void everyModuleIsChecked() {
        for (String name : new String[] {"dev.graft.onnx.OnnxModel", "dev.graft.merge.Ties",
            "dev.graft.adapters.LoraApply", "dev.graft.cli.Main", "dev.graft.GraftException"}) {
            org.assertj.core.api.Assertions.assertThat(classes.contain(name)).as(name).isTrue();
        }
    }

    @Test
    void modulesDependOnlyDownward() {
        MODULES.check(classes);
    }

    @Test
    void packagesHaveNoCycles() {
        PACKAGES.check(classes);
    }

    @Test
    void exceptionsDependOnNothingElse() {
        ERRORS.check(classes);
    }

    @Test
    void onlyTheRecipePackageReadsYaml() {
        YAML.check(classes);
    }
}
