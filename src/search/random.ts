// Random search with the same interfaces as evolutionary search: each generation scores
// `population` new valid paths drawn uniformly (rejection under the constraints, never a path
// scored before), for `generations` generations, so that with the same settings both searches
// score the same number of paths (1000 by default) and their per-generation logs compare.
import type { SearchOptions } from './common.js';
import { PathSearch, Proposals } from './common.js';

export type RandomSearchOptions = SearchOptions;

export class RandomSearch extends PathSearch {
  protected readonly kind = 'random';

  protected propose(): Proposals {
    const p = new Proposals(this);
    this.fillRandom(p, this.population);
    return p;
  }
}
