/** Output folders of commands that write new data: a missing or empty folder is fine, anything else is refused (nothing is overwritten). */
import fs from 'node:fs/promises';

export async function requireEmptyOrMissing(dir: string, flag = '--out'): Promise<void> {
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new Error(`${flag} ${dir}: ${(error as Error).message}`);
  }
  if (entries.length > 0) throw new Error(`${flag} ${dir} exists and is not empty; choose a new folder (nothing was overwritten)`);
}
