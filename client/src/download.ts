/** Client-side downloads: a Blob or data URL handed to the browser through a temporary <a download>. */
import { toCsv, type CsvValue } from './csv.ts';

/** Letters, digits, dot, dash and underscore only: a file name safe on every OS. */
export function safeFileName(name: string): string {
  return name.replace(/[^\w.-]+/g, '_').replace(/^_+|_+$/g, '') || 'bnlab';
}

export function downloadUrl(url: string, fileName: string): void {
  const link = document.createElement('a');
  link.href = url;
  link.download = safeFileName(fileName);
  link.style.display = 'none';
  document.body.append(link);
  link.click();
  link.remove();
}

export function downloadText(text: string, fileName: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  downloadUrl(url, fileName);
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function downloadCsv(fileName: string, header: readonly string[], rows: readonly (readonly CsvValue[])[]): void {
  downloadText(toCsv(header, rows), fileName.endsWith('.csv') ? fileName : `${fileName}.csv`, 'text/csv');
}

export function downloadJson(fileName: string, value: unknown): void {
  downloadText(JSON.stringify(value, null, 2), fileName.endsWith('.json') ? fileName : `${fileName}.json`, 'application/json');
}

/** A <table>'s header and cells as text (what the user sees), for CSV/JSON export of any table. */
export function tableRows(table: HTMLTableElement): { header: string[]; rows: string[][] } {
  const header = [...table.querySelectorAll('thead th')].map((th) => (th as HTMLElement).dataset.export ?? th.textContent?.trim() ?? '');
  const rows = [...table.querySelectorAll('tbody tr')].map((tr) =>
    [...tr.querySelectorAll('td')].map((td) => (td as HTMLElement).dataset.export ?? td.textContent?.trim() ?? ''),
  );
  return { header, rows };
}

/** A small button labelled `label`, marked data-export=`kind`, that runs `download` on click. */
function exportButton(kind: string, label: string, download: () => void): HTMLButtonElement {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'small';
  button.dataset.export = kind;
  button.textContent = label;
  button.addEventListener('click', download);
  return button;
}

/** Two small buttons that download `table` as CSV and as JSON (one object per row). */
export function tableExportButtons(table: HTMLTableElement, fileName: () => string): HTMLElement {
  const csv = exportButton('csv', 'CSV', () => {
    const { header, rows } = tableRows(table);
    downloadCsv(fileName(), header, rows);
  });
  const json = exportButton('json', 'JSON', () => {
    const { header, rows } = tableRows(table);
    downloadJson(fileName(), rows.map((row) => Object.fromEntries(header.map((h, i) => [h || `column${i + 1}`, row[i] ?? '']))));
  });
  const group = document.createElement('span');
  group.className = 'export-buttons';
  group.append(csv, json);
  return group;
}
