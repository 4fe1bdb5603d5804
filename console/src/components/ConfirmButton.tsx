import { useState } from 'react';
import { useI18n } from '../i18n';

// A destructive action runs only after the operator confirms it in a dialog.
export function ConfirmButton({
  label,
  question,
  onConfirm,
  disabled,
}: {
  label: string;
  question: string;
  onConfirm: () => void | Promise<void>;
  disabled?: boolean;
}) {
  const { t } = useI18n();
  const [asking, setAsking] = useState(false);
  return (
    <>
      <button className="danger" disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
      {asking ? (
        <div role="dialog" aria-modal="true" aria-label={label} className="dialog">
          <p>{question}</p>
          <button
            className="danger"
            onClick={async () => {
              setAsking(false);
              await onConfirm();
            }}
          >
            {t('confirm')}
          </button>
          <button onClick={() => setAsking(false)}>{t('cancel')}</button>
        </div>
      ) : null}
    </>
  );
}
