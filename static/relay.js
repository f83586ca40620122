// Posts the relay page's form (templates/relay.html) once it is loaded: a
// provider's cross-site POST carried no SameSite=Lax cookie, the same POST
// made from this site does. Without scripts the page's button does it.
'use strict';

(() => {
  const form = document.getElementById('relay');
  if (form) form.submit();
})();
