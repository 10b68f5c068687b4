package dev.graft.plan;

import dev.graft.InvalidSettingException;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;

/**
 * Makes merge methods by recipe name, for modules that use a method without depending on the module that
 * implements it (LoRA composition runs TIES or DARE on full updates). Implementations are
 * {@link ServiceLoader} providers; {@code graft-merge} registers every method it has.
 */
public interface MergeMethodFactory {
    /** The method names this factory makes. */
    List<String> names();

    /** The method called {@code name} (one of {@link #names()}), in the mergekit convention. */
    MergeMethod create(String name);

    /**
     * The method called {@code name} from whichever factory on the class path makes it.
     *
     * @throws InvalidSettingException naming the method and listing the known ones
     */
    static MergeMethod find(String name) {
        List<String> known = new ArrayList<>();
        for (MergeMethodFactory f : ServiceLoader.load(MergeMethodFactory.class, MergeMethodFactory.class.getClassLoader())) {
            if (f.names().contains(name)) {
                return f.create(name);
            }
            known.addAll(f.names());
        }
        throw new InvalidSettingException("unknown merge method '" + name + "' (available: "
                + (known.isEmpty() ? "none: add graft-merge to the class path" : known) + ")");
    }
}
