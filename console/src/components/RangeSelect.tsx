import { useI18n } from '../i18n';

// The day ranges every analytics page offers, counted back from today in the workspace's time zone.
export const RANGES = [7, 30, 90];

export function RangeSelect({ days, onChange }: { days: number; onChange: (days: number) => void }) {
  const { t } = useI18n();
  return (
    <select aria-label={t('range')} value={days} onChange={(e) => onChange(Number(e.target.value))}>
      {RANGES.map((n) => (
        <option key={n} value={n}>
          {t('lastDays', { n })}
        </option>
      ))}
    </select>
  );
}
